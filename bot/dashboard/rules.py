"""Who may see the dashboard, and the period it covers.

Directors and auditors (纪检) see the service's figures; only directors see them per reviewer
(auditors review anomalies, not their colleagues' workload). The period is a range of days in
Asia/Shanghai, at most a year, the last 30 days unless chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.platform.workdays import SHANGHAI, today_in_china
from models import StaffRole, StaffUser

DASHBOARD_ROLES = frozenset({"director", "auditor"})
REVIEWER_ROLES = frozenset({"director"})
DEFAULT_DAYS = 30
MAX_DAYS = 366


def sees_dashboard(user: StaffUser | None) -> bool:
    """Directors and auditors."""
    return bool(user and user.active and StaffRole(user.role).value in DASHBOARD_ROLES)


def sees_reviewers(user: StaffUser | None) -> bool:
    """Directors only: the figures of each reviewer."""
    return bool(user and user.active and StaffRole(user.role).value in REVIEWER_ROLES)


@dataclass(frozen=True)
class Period:
    """Days `start` to `end` inclusive, in Asia/Shanghai."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        """The first moment, in UTC."""
        return datetime.combine(self.start, time(), SHANGHAI).astimezone(UTC)

    @property
    def until(self) -> datetime:
        """The moment after the last day, in UTC."""
        return datetime.combine(self.end + timedelta(days=1), time(), SHANGHAI).astimezone(UTC)

    def days(self) -> list[date]:
        """Every day of the period."""
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def as_args(self) -> dict[str, str]:
        """The period as query arguments."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


class PeriodError(ValueError):
    """The chosen dates do not make a period; the message (Chinese) says why."""


def period_from(start: str | None, end: str | None, now: datetime) -> Period:
    """The period a form chose (YYYY-MM-DD), or the last DEFAULT_DAYS days ending today."""
    today = today_in_china(now)
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise PeriodError("日期格式应为 年-月-日，例如 2026-09-01。") from None
    if first > last:
        raise PeriodError("开始日期晚于结束日期。")
    if (last - first).days >= MAX_DAYS:
        raise PeriodError(f"一次最多看 {MAX_DAYS} 天。")
    return Period(first, last)
