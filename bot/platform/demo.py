"""Demo data for a laptop: `gradcert seed-demo` and `gradcert serve --demo`."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from sqlalchemy import select

from bot.platform.idcard import check_character, mask_phone
from bot.platform.passwords import hash_password
from bot.platform.staff_auth import create_staff
from bot.platform.workdays import today_in_china
from models import Diploma, DiplomaStatus, StaffUser, Student

DEMO_STAFF = ("demo.director", "演示主任", "13800000009")  # username, name, phone (director)

# (student number, name, first 17 digits of the ID number, phone, campus)
DEMO = [
    ("2016010203", "张三", "51082119980312441", "13800000001", "main"),
    ("2017020118", "李小红", "11010519991231105", "13800000002", "main"),
    ("2018030307", "王芳", "44030620000101123", "13800000003", "gy"),
    ("2019040422", "阿依古丽·买买提", "65010220010715224", "13800000004", "main"),
    ("2020050511", "ZHANG SAN", "36010220020220331", "13800000005", "gy"),
]


# A diploma in every state the look-up tells apart (张三 has none: "no record yet").
# (student number, certificate number, status, campus/source, leave date relative to today or fixed)
DEMO_DIPLOMAS = [
    # registered and valid (the README walkthrough): shown, certificates can be issued
    ("2017020118", "139321202106000118", DiplomaStatus.VALID, "main", date(2021, 7, 1)),
    # a campus graduate who left yesterday: not synced yet, told the expected date
    ("2018030307", None, DiplomaStatus.VALID, "gy", timedelta(days=-1)),
    # leaves in a month: told when the record will appear
    ("2019040422", None, DiplomaStatus.VALID, "main", timedelta(days=30)),
    # revoked by the college
    ("2020050511", "139321202206000511", DiplomaStatus.REVOKED, "gy", date(2022, 7, 1)),
]


def demo_students() -> list[tuple[str, str, str, str, str]]:
    """The demo rows with their full, valid ID numbers."""
    return [
        (no, name, id17 + check_character(id17), phone, campus)
        for no, name, id17, phone, campus in DEMO
    ]


def seed_demo(runtime, diplomas: bool = False) -> list[str]:
    """Create the demo students and, with `diplomas` (`gradcert seed-demo`, `serve --demo`), a
    diploma in every state (idempotent); returns lines to print."""
    cipher = runtime.domain.cipher
    lines = ["demo students (student no, name, ID number, phone on file):"]
    with runtime.sessions() as db:
        for no, name, id_number, phone, campus in demo_students():
            if db.scalar(select(Student).where(Student.student_no == no)) is None:
                id_enc, version = cipher.seal(id_number, b"id")
                phone_enc, _ = cipher.seal(phone, b"phone")
                db.add(
                    Student(
                        student_no=no,
                        name=name,
                        campus=campus,
                        pii_key_version=version,
                        id_number_enc=id_enc,
                        id_number_index=cipher.index("id", id_number),
                        phone_enc=phone_enc,
                        phone_index=cipher.index("phone", phone),
                    )
                )
            lines.append(f"  {no}  {name}  {id_number}  {phone} ({mask_phone(phone)})")
        db.commit()
        if diplomas:
            lines.extend(_seed_diplomas(db))
            db.commit()
    lines.append(
        "codes from the console SMS provider go to SMS_OUTBOX (and show up in `gradcert chat`)"
    )
    return lines


def demo_console_login(runtime, public_url: str) -> list[str]:
    """A director for the demo console, created once; its password is new at each call and printed
    (only the hash is kept), so whoever started the demo can sign in."""
    username, name, phone = DEMO_STAFF
    password = secrets.token_urlsafe(12)
    with runtime.sessions() as db:
        user = db.scalar(select(StaffUser).where(StaffUser.username == username))
        if user is None:
            create_staff(db, runtime.domain.cipher, username, name, "director", password, phone)
        else:
            user.password_hash = hash_password(password)
        db.commit()
    return [
        f"console: {public_url.rstrip('/')}/console/login  user {username}  password {password}",
        "  (a demo director; the password is new at every `serve --demo`)",
    ]


def _seed_diplomas(db) -> list[str]:
    """The demo diplomas (idempotent); dates relative to today are fixed when first seeded."""
    today = today_in_china()
    lines = ["demo diplomas (student no: state):"]
    for no, certificate_no, status, source, leave in DEMO_DIPLOMAS:
        student = db.scalar(select(Student).where(Student.student_no == no))
        leave_date = today + leave if isinstance(leave, timedelta) else leave
        if db.scalar(select(Diploma).where(Diploma.student_id == student.id)) is None:
            enrol = date(leave_date.year - 3, 9, 1)
            db.add(
                Diploma(
                    student_id=student.id,
                    certificate_no=certificate_no,
                    level="专科",
                    major="计算机应用技术",
                    study_mode="全日制",
                    campus=source,
                    enrol_date=enrol,
                    grad_date=date(leave_date.year, 6, 30) if certificate_no else None,
                    leave_date=leave_date,
                    status=status,
                    source=source,
                )
            )
        state = (
            "revoked"
            if status is DiplomaStatus.REVOKED
            else "registered"
            if certificate_no
            else f"not synced yet, leaves/left {leave_date:%Y-%m-%d}"
        )
        lines.append(f"  {no}: {state}")
    return lines
