"""The registrar's students and what an account may do with them: bindings, consents, code events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import Base, enum_type, utcnow


class Student(Base):
    """A registrar record. ID number and phone are SM4-GCM sealed (`pii_key_version`) and found
    through HMAC-SM3 blind indexes; they are never stored or logged in clear."""

    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_index: Mapped[str] = mapped_column(String(64), index=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    pii_key_version: Mapped[int] = mapped_column(default=1)
    campus: Mapped[str] = mapped_column(String(32), default="main")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BindingState(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"  # unbound by the user, replaced by another account, or deleted


class Binding(Base):
    """Account → student. At most one active binding per student and channel (enforced in
    partial unique indexes), and one active binding per account."""

    __tablename__ = "bindings"
    __table_args__ = (
        Index(
            "uq_bindings_active_student",
            "student_id",
            "channel",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index(
            "uq_bindings_active_account",
            "account_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        # what lookups by account use: SQLite cannot use the partial index above when the state
        # is a bound parameter (it always is), so without this they scanned the table
        Index("ix_bindings_account_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[BindingState] = mapped_column(
        enum_type(BindingState, "state"), default=BindingState.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column()  # last successful SMS code
    reconfirm_warned_at: Mapped[datetime | None] = mapped_column()  # notice before re-confirmation
    removed_at: Mapped[datetime | None] = mapped_column()
    removed_reason: Mapped[str | None] = mapped_column(String(32))

    student: Mapped[Student] = relationship(lazy="joined")


class Consent(Base):
    """Agreement to a personal-information notice, by version."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    notice: Mapped[str] = mapped_column(String(32))  # which notice: "binding", "proxy"
    notice_version: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    agreed_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column()


class OtpEventKind(StrEnum):
    SENT = "sent"
    SEND_FAILED = "send_failed"
    VERIFIED = "verified"
    FAILED = "failed"
    LOCKED = "locked"


class OtpEvent(Base):
    """What happened to a one-time code; never the code itself."""

    __tablename__ = "otp_events"
    __table_args__ = (Index("ix_otp_events_at", "at"),)  # the dashboard's counts by day

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"))
    kind: Mapped[OtpEventKind] = mapped_column(enum_type(OtpEventKind, "kind"))
    purpose: Mapped[str] = mapped_column(String(16), default="bind")
    at: Mapped[datetime] = mapped_column(default=utcnow)
