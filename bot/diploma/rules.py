"""What a graduate may be shown of their diploma record, and when: the freshness of the last code
check, and the state of the record (shown, revoked, or when it should appear). The chat's diploma
flow and the mini-program API share these rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.platform.workdays import add_working_days, today_in_china
from models import Binding, Diploma, DiplomaStatus, Student, as_utc

FRESH_CODE = timedelta(minutes=10)
CAMPUS_DELAY_DAYS = 2  # campus data reaches the main campus about 48 hours later
SYNC_WORKING_DAYS = 3


class RecordState(StrEnum):
    """Each state has its own chat reply (templates/replies/diploma/<value>.txt)."""

    RECORD = "record"  # registered and valid: shown
    REVOKED = "revoked"
    NO_RECORD = "no_record"
    NOT_LEFT = "not_left"  # no leave date yet
    NOT_LEFT_YET = "not_left_yet"  # leaves in the future
    PENDING = "pending"  # left; the record should appear by `expected`
    OVERDUE = "overdue"  # should have appeared by now


@dataclass(frozen=True)
class RecordView:
    state: RecordState
    diploma: Diploma | None = None
    expected: date | None = None


def code_is_fresh(binding: Binding, now: datetime) -> bool:
    """True when the binding's last SMS code check is at most 10 minutes old."""
    return binding.verified_at is not None and as_utc(binding.verified_at) >= now - FRESH_CODE


def expected_sync_date(diploma: Diploma) -> date | None:
    """Leave date + 3 working days, campus records 2 days later (holiday calendar applies)."""
    if diploma.leave_date is None:
        return None
    start = diploma.leave_date + timedelta(days=0 if diploma.source == "main" else CAMPUS_DELAY_DAYS)
    return add_working_days(start, SYNC_WORKING_DAYS)


def record_view(db: Session, student: Student, now: datetime) -> RecordView:
    """The student's diploma and what may be said about it today."""
    diploma = db.scalar(select(Diploma).where(Diploma.student_id == student.id))
    if diploma is None:
        return RecordView(RecordState.NO_RECORD)
    if diploma.certificate_no:
        revoked = diploma.status == DiplomaStatus.REVOKED
        return RecordView(RecordState.REVOKED if revoked else RecordState.RECORD, diploma)
    expected = expected_sync_date(diploma)
    today = today_in_china(now)
    if expected is None:
        return RecordView(RecordState.NOT_LEFT, diploma)
    if diploma.leave_date > today:
        return RecordView(RecordState.NOT_LEFT_YET, diploma, expected)
    if expected >= today:
        return RecordView(RecordState.PENDING, diploma, expected)
    return RecordView(RecordState.OVERDUE, diploma, expected)
