"""What the registrar office runs from the console (registrar imports uploaded in the browser, the
holiday calendar) and the events the dashboard counts that no other table records (lookups on the
public verification page)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models import Base, enum_type, utcnow


class ImportState(StrEnum):
    PREVIEWED = "previewed"  # dry run shown; the sealed file waits for a confirmation
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    DISCARDED = "discarded"  # the director cancelled; the file is gone
    EXPIRED = "expired"  # not confirmed in time; the file is gone


class OfficeImport(Base):
    """One registrar file uploaded in the console: its SM3 digest, the file sealed (SM4) only until
    it has been imported or dropped, the dry run's preview and the import's result (JSON: counts,
    line numbers, field names and masked values only)."""

    __tablename__ = "office_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    filename: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column()
    digest: Mapped[str] = mapped_column(String(64))  # SM3 of the uploaded bytes, hex
    sealed_file: Mapped[bytes | None] = mapped_column(LargeBinary)
    pii_key_version: Mapped[int] = mapped_column(default=1)
    state: Mapped[ImportState] = mapped_column(
        enum_type(ImportState, "state"), default=ImportState.PREVIEWED
    )
    preview: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class DayKind(StrEnum):
    HOLIDAY = "holiday"  # 放假
    WORKDAY = "workday"  # 调休上班 (a Saturday or Sunday worked)


class CalendarYear(Base):
    """A year whose State Council arrangement was entered in the console; it replaces that year of
    the bundled calendar file."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarDay(Base):
    """One day off or one 调休 working day of a year in calendar_years."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("calendar_years.year"), index=True)
    kind: Mapped[DayKind] = mapped_column(enum_type(DayKind, "kind"))
    name: Mapped[str | None] = mapped_column(String(32))


class LookupOutcome(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    CLOSED = "closed"
    TAMPERED = "tampered"
    UNKNOWN = "unknown"


class VerificationLookup(Base):
    """One answered lookup on the public verification page (no address, no code: only the
    certificate it found and how it stood)."""

    __tablename__ = "verification_lookups"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    outcome: Mapped[LookupOutcome] = mapped_column(enum_type(LookupOutcome, "outcome"))
