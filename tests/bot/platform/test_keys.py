"""Key rotation re-encrypts every sealed column (students, appeals, staff) while lookups keep working."""

import threading
from datetime import date

from click.testing import CliRunner
from sqlalchemy import func, select

from bot.binding.rules import find_student, phone_of
from bot.platform.crypto import PiiCipher, parse_keys
from bot.platform.idcard import check_character
from bot.platform.keys import rotate
from models import Account, Appeal, StaffUser, Student

OLD = "1:" + "11" * 16
BOTH = OLD + ",2:" + "22" * 16


def _seed(sessions, cipher, n):
    people = []
    with sessions() as db:
        for i in range(n):
            first17 = f"110105{1970 + i % 30}0101{i % 1000:03d}"
            id_number = first17 + check_character(first17)
            phone = f"139{i:08d}"
            id_enc, v = cipher.seal(id_number, b"id")
            phone_enc, _ = cipher.seal(phone, b"phone")
            db.add(
                Student(
                    student_no=f"S{i:06d}",
                    name=f"学生{i}",
                    id_number_enc=id_enc,
                    id_number_index=cipher.index("id", id_number),
                    phone_enc=phone_enc,
                    phone_index=cipher.index("phone", phone),
                    pii_key_version=v,
                )
            )
            people.append((f"学生{i}", id_number, phone))
        db.commit()
    return people


def test_rotation_of_1000_students_while_lookups_keep_working(make_app):
    app = make_app(GRADCERT_PII_KEYS=OLD)
    rt = app.extensions["gradcert"]
    index_key = rt.domain.cipher.index_key
    people = _seed(rt.sessions, PiiCipher(parse_keys(OLD), index_key), 1000)
    new = PiiCipher(parse_keys(BOTH), index_key)  # the service after GRADCERT_PII_KEYS gained v2

    failures, lookups, done = [], [0], threading.Event()

    def lookups_during_rotation():
        i = 0
        while not done.is_set() or i < 200:
            name, id_number, phone = people[(i * 37) % len(people)]
            with rt.sessions() as db:
                student = find_student(db, new, name, id_number, None)
                if student is None or phone_of(new, student) != phone:
                    failures.append(name)
            lookups[0] += 1
            i += 1

    reader = threading.Thread(target=lookups_during_rotation)
    reader.start()
    progress = list(rotate(rt.sessions, new, batch=100))
    done.set()
    reader.join()

    assert progress[-1] == 1000 and len(progress) == 10
    assert failures == [] and lookups[0] >= 200
    with rt.sessions() as db:
        assert (
            db.scalar(select(func.count()).select_from(Student).where(Student.pii_key_version != 2))
            == 0
        )
    only_new = PiiCipher({2: parse_keys(BOTH)[2]}, index_key)  # v1 can now be retired
    with rt.sessions() as db:
        name, id_number, phone = people[500]
        assert phone_of(only_new, find_student(db, only_new, name, id_number, None)) == phone
    assert list(rotate(rt.sessions, new)) == []  # nothing left to do


def test_keys_rotate_command(make_app):
    app = make_app(GRADCERT_PII_KEYS=OLD)
    rt = app.extensions["gradcert"]
    _seed(rt.sessions, rt.domain.cipher, 5)
    app2 = make_app(GRADCERT_PII_KEYS=BOTH)
    from handlers.cli import keys_rotate

    with app2.app_context():
        result = CliRunner().invoke(keys_rotate, ["--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "5 rows now under key version 2" in result.output
    assert "re-encrypting: 5/5 (100%), done in" in result.output  # the progress line


def test_appeals_and_staff_phones_are_rotated_too(make_app):
    from bot.platform.staff_auth import create_staff

    app = make_app(GRADCERT_PII_KEYS=OLD)
    rt = app.extensions["gradcert"]
    old = rt.domain.cipher
    with rt.sessions() as db:
        filer = Account(channel="wx", app_id="wx-app", user_key="o-filer")
        db.add(filer)
        db.flush()
        phone_enc, v = old.seal("13912345678", b"phone")
        claimed_enc, _ = old.seal("11010519491231002X", b"id")
        db.add(
            Appeal(
                ticket_no="GA20261125-0001",
                account_id=filer.id,
                category="other",
                description="查不到证书",
                contact_phone_enc=phone_enc,
                claimed_id_enc=claimed_enc,
                pii_key_version=v,
                due_date=date(2026, 12, 2),
            )
        )
        create_staff(
            db, old, "boss", "李主任", "director", "correct horse battery", phone="13900000009"
        )
        db.commit()
    new = PiiCipher(parse_keys(BOTH), old.index_key)
    assert list(rotate(rt.sessions, new))[-1] == 2
    only_new = PiiCipher({2: parse_keys(BOTH)[2]}, old.index_key)
    with rt.sessions() as db:
        appeal, staff = db.scalar(select(Appeal)), db.scalar(select(StaffUser))
        assert (appeal.pii_key_version, staff.pii_key_version) == (2, 2)
        assert only_new.open(appeal.contact_phone_enc, 2, b"phone") == "13912345678"
        assert only_new.open(appeal.claimed_id_enc, 2, b"id") == "11010519491231002X"
        assert only_new.open(staff.phone_enc, 2, b"phone") == "13900000009"


def test_a_host_that_learned_the_new_key_first_keeps_sealing_with_the_old_one(make_app):
    """Rotation across hosts: v2 reaches every host as a decrypt-only key (seal version 1), so a
    host not yet restarted can read whatever the others write; only then does v2 seal."""
    staged = make_app(GRADCERT_PII_KEYS=BOTH, GRADCERT_PII_SEAL_VERSION="1")
    cipher = staged.extensions["gradcert"].domain.cipher
    sealed, version = cipher.seal("13900000001", b"phone")
    assert version == 1
    old_host = PiiCipher(parse_keys(OLD), cipher.index_key)
    assert old_host.open(sealed, version, b"phone") == "13900000001"
    switched = PiiCipher.from_config(BOTH, "x", "")
    assert switched.current_version == 2
    assert cipher.open(*switched.seal("x", b"id"), b"id") == "x"  # a staged host reads v2


def test_a_seal_version_outside_the_keys_is_refused():
    import pytest

    with pytest.raises(ValueError, match="GRADCERT_PII_SEAL_VERSION 3"):
        PiiCipher.from_config(BOTH, "x", "3")
