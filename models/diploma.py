"""Diplomas from the registrar, the electronic certificates issued from them, and the ledger that
makes every issue, extension, closing and revocation tamper-evident."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import Base, enum_type, utcnow
from models.student import Student


class DiplomaStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"


class Diploma(Base):
    """One student's study record and diploma. `certificate_no` is empty until the diploma is
    registered (the record is then "not synced yet")."""

    __tablename__ = "diplomas"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), unique=True)
    certificate_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    level: Mapped[str] = mapped_column(String(16))  # 专科 / 本科 / 中职
    major: Mapped[str] = mapped_column(String(64))
    study_mode: Mapped[str] = mapped_column(String(16))  # 全日制 / 非全日制
    campus: Mapped[str] = mapped_column(String(32))
    enrol_date: Mapped[date | None] = mapped_column()
    grad_date: Mapped[date | None] = mapped_column()
    leave_date: Mapped[date | None] = mapped_column()
    status: Mapped[DiplomaStatus] = mapped_column(
        enum_type(DiplomaStatus, "status"), default=DiplomaStatus.VALID
    )
    source: Mapped[str] = mapped_column(String(32), default="main")  # "main" or a campus code
    source_updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    student: Mapped[Student] = relationship(lazy="joined")


class Certificate(Base):
    """An electronic certificate of a diploma, valid for a chosen number of days."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_student", "student_id", "issued_at"),
        Index("ix_certificates_issued_at", "issued_at"),  # the dashboard's counts by day
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    diploma_id: Mapped[int] = mapped_column(ForeignKey("diplomas.id"))
    issued_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    valid_from: Mapped[datetime] = mapped_column()
    valid_until: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)  # canonical JSON that was signed
    digest: Mapped[str] = mapped_column(String(64))  # SM3 of content, hex
    signature: Mapped[str] = mapped_column(String(256))  # SM2 over content, hex
    # SM3 of the signing public key (signing_keys.key_id); NULL: signed before the keyring
    signing_key: Mapped[str | None] = mapped_column(String(64))
    pdf_ready_at: Mapped[datetime | None] = mapped_column()
    submission_key: Mapped[str | None] = mapped_column(
        String(64), unique=True
    )  # one certificate per request

    diploma: Mapped[Diploma] = relationship(lazy="joined")


class SigningKey(Base):
    """A public key the school has signed certificates with; kept for verification after a
    rotation (the private keys are never stored here)."""

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SM3 of public_key, hex
    public_key: Mapped[str] = mapped_column(String(128))  # x || y, hex
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """Append-only chain: entry_hash = SM3(prev_hash | event | certificate digest | seq)."""

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    event: Mapped[str] = mapped_column(String(16))  # issued / extended / closed / revoked
    certificate_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
