"""Working days in China: weekends and public holidays off, 调休 weekend days on, from the
calendar file bot/data/holidays.json that the college updates each year."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from models import as_utc, utcnow

CALENDAR = Path(__file__).resolve().parent.parent / "data" / "holidays.json"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[frozenset[date], frozenset[date]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    holidays, workdays = set(), set()
    for year, days in data.items():
        if year.startswith("_"):
            continue
        holidays.update(date.fromisoformat(d) for d in days.get("holidays", []))
        workdays.update(date.fromisoformat(d) for d in days.get("workdays", []))
    return frozenset(holidays), frozenset(workdays)


def is_working_day(day: date, calendar: Path = CALENDAR) -> bool:
    """Monday to Friday unless a holiday; a 调休 Saturday or Sunday is a working day."""
    holidays, workdays = _load(str(calendar))
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: date, days: int, calendar: Path = CALENDAR) -> date:
    """The date `days` working days after `start` (start itself does not count)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if is_working_day(current, calendar):
            days -= 1
    return current


def today_in_china(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai."""
    return (now or utcnow()).astimezone(SHANGHAI).date()


def local(moment: datetime) -> datetime:
    """A stored UTC time shown in Asia/Shanghai."""
    return as_utc(moment).astimezone(SHANGHAI)
