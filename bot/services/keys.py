"""Key rotation: re-seal every student's personal data under the newest SM4 key, in small batches,
while the service keeps running (rows under older versions stay readable until they are done)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.services.crypto import PiiCipher
from models import Student


def rotate(sessions: sessionmaker, cipher: PiiCipher, batch: int = 200) -> Iterator[int]:
    """Re-encrypt rows below the current key version; yields the running count after each batch."""
    target = cipher.current_version
    done = 0
    last_id = 0
    while True:
        with sessions() as db:
            rows = db.scalars(
                select(Student)
                .where(Student.pii_key_version != target, Student.id > last_id)
                .order_by(Student.id)
                .limit(batch)
                .with_for_update()
            ).all()
            if not rows:
                return
            for student in rows:
                _reseal(cipher, student)
                last_id = student.id
            db.commit()
        done += len(rows)
        yield done


def _reseal(cipher: PiiCipher, student: Student) -> None:
    id_number = cipher.open(student.id_number_enc, student.pii_key_version, b"id")
    phone = cipher.open(student.phone_enc, student.pii_key_version, b"phone") if student.phone_enc else None
    student.id_number_enc, version = cipher.seal(id_number, b"id")
    if phone is not None:
        student.phone_enc, _ = cipher.seal(phone, b"phone")
    student.pii_key_version = version
