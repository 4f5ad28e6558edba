"""Demo data for a laptop: `gradcert seed-demo` and `gradcert serve --demo`."""

from __future__ import annotations

from sqlalchemy import select

from bot.platform.idcard import check_character, mask_phone
from models import Student

# (student number, name, first 17 digits of the ID number, phone, campus)
DEMO = [
    ("2016010203", "张三", "51082119980312441", "13800000001", "main"),
    ("2017020118", "李小红", "11010519991231105", "13800000002", "main"),
    ("2018030307", "王芳", "44030620000101123", "13800000003", "gy"),
    ("2019040422", "阿依古丽·买买提", "65010220010715224", "13800000004", "main"),
    ("2020050511", "ZHANG SAN", "36010220020220331", "13800000005", "gy"),
]


def demo_students() -> list[tuple[str, str, str, str, str]]:
    """The demo rows with their full, valid ID numbers."""
    return [
        (no, name, id17 + check_character(id17), phone, campus)
        for no, name, id17, phone, campus in DEMO
    ]


def seed_demo(runtime) -> list[str]:
    """Create the demo students (idempotent); returns lines to print."""
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
    lines.append(
        "codes from the console SMS provider go to SMS_OUTBOX (and show up in `gradcert chat`)"
    )
    return lines
