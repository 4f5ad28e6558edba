"""Reading the audit trail: the filters of the console's audit log (local date range, staff
username, action, student record, result) as a query string carries them, and one page of rows,
newest first. Nothing here imports Flask."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.platform.workdays import SHANGHAI
from models import AuditEvent, StaffUser

PAGE_SIZE = 50


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditFilters:
    """What the audit log shows: days are local (Asia/Shanghai) and inclusive."""

    since: date | None = None
    until: date | None = None
    staff: str = ""
    action: str = ""
    subject: int | None = None
    result: str = ""

    @classmethod
    def from_args(cls, args, actions, results) -> AuditFilters:
        """From query arguments; an action or result outside the known ones, a malformed date or
        record number is ignored. The record number may be typed as `#12` or `12`."""
        subject = (args.get("subject") or "").strip().lstrip("#")
        action, result = args.get("action") or "", args.get("result") or ""
        return cls(
            since=_day(args.get("since")),
            until=_day(args.get("until")),
            staff=(args.get("staff") or "").strip().lower()[:64],
            action=action if action in actions else "",
            subject=int(subject) if re.fullmatch(r"[0-9]{1,9}", subject) else None,
            result=result if result in results else "",
        )

    def as_args(self) -> dict:
        """The filters that are set, for links (the pager) and the form."""
        out = {
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "staff": self.staff,
            "action": self.action,
            "subject": str(self.subject) if self.subject is not None else "",
            "result": self.result,
        }
        return {k: v for k, v in out.items() if v}

    def describe(self) -> str:
        """The filters for the audit row of viewing the log (no personal data)."""
        return " ".join(f"{k}={v}" for k, v in self.as_args().items())[:200] or "all"


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), SHANGHAI).astimezone(UTC)


def _filtered(filters: AuditFilters) -> Select:
    query = select(AuditEvent)
    if filters.since:
        query = query.where(AuditEvent.at >= _local_midnight(filters.since))
    if filters.until:
        query = query.where(AuditEvent.at < _local_midnight(filters.until + timedelta(days=1)))
    if filters.staff:
        query = query.where(AuditEvent.actor_staff == filters.staff)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.subject is not None:
        query = query.where(AuditEvent.subject_student_id == filters.subject)
    if filters.result:
        query = query.where(AuditEvent.result == filters.result)
    return query


@dataclass(frozen=True)
class AuditPage:
    """One page of rows, with the total count and the page numbers."""

    rows: list[AuditEvent]
    total: int
    page: int
    pages: int


def audit_page(db: Session, filters: AuditFilters, page: int) -> AuditPage:
    """Rows matching `filters`, newest first, PAGE_SIZE a page (a page past the end: the last)."""
    query = _filtered(filters)
    total = db.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.scalars(
        query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return AuditPage(list(rows), total, page, pages)


def staff_names(db: Session) -> list[str]:
    """Every staff username (for the staff filter's suggestions)."""
    return list(db.scalars(select(StaffUser.username).order_by(StaffUser.username)))
