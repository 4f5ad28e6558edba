"""Working days in China: weekends and public holidays off, 调休 weekend days on, from the
calendar file that the college updates each year (bot/data/holidays.json, or the file that
GRADCERT_HOLIDAYS_FILE names), and the years the office entered in the console (calendar_days,
read again by every process after GRADCERT_CALENDAR_CACHE_SECONDS), which replace the file's.

The State Council publishes each year's arrangement in November or December. A day past the last
year in the file is counted with weekends and the fixed-date statutory holidays only (元旦,
劳动节, 国庆节: the lunar festivals and the 调休 days cannot be known before the notice); the
staff console warns from 60 days before the file runs out, and the service logs it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from models import CalendarDay, CalendarYear, DayKind, as_utc, utcnow

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "holidays.json"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# 全国年节及纪念日放假办法 (2024 revision): the statutory days whose solar date never moves
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})
WARN_DAYS = 60
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Calendar:
    """One holiday file: the days off, the 调休 days worked, and the last day it covers."""

    path: str
    holidays: frozenset[date]
    workdays: frozenset[date]
    covered_until: date

    def is_working_day(self, day: date) -> bool:
        """Monday to Friday unless a holiday; a 调休 Saturday or Sunday is a working day."""
        if day in self.workdays:
            return True
        if day.weekday() >= 5:
            return False
        if day > self.covered_until:
            return (day.month, day.day) not in FIXED_HOLIDAYS
        return day not in self.holidays

    def needs_update(self, today: date) -> bool:
        """True from WARN_DAYS before the file runs out."""
        return today + timedelta(days=WARN_DAYS) > self.covered_until


@lru_cache(maxsize=4)
def load(path: str | Path = BUNDLED) -> Calendar:
    """Read and check a calendar file: {"2026": {"holidays": [...], "workdays": [...]}, ...}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    holidays, workdays, years = set(), set(), []
    for year, days in data.items():
        if year.startswith("_"):
            continue
        years.append(int(year))
        for kind, into in (("holidays", holidays), ("workdays", workdays)):
            for text in days.get(kind, []):
                day = date.fromisoformat(text)
                if day.year != int(year):
                    raise ValueError(f"{path}: {text} is listed under {year}")
                into.add(day)
    if not years:
        raise ValueError(f"{path}: no year in the calendar")
    if holidays & workdays:
        raise ValueError(
            f"{path}: both a holiday and a working day: {sorted(holidays & workdays)[0]}"
        )
    return Calendar(str(path), frozenset(holidays), frozenset(workdays), date(max(years), 12, 31))


_active: Path = BUNDLED
_warned: set[str] = set()
Entered = dict[int, dict[date, bool]]  # year -> {day: True for a holiday, False for a 调休 workday}
_entered: Callable[[], Entered] | None = None  # the years entered in the console (SQL)
_entered_seconds = 30.0
_merged: tuple[float, Calendar, Calendar] | None = None  # (read at, file calendar, merged)


def use_calendar(path: str | Path | None) -> Calendar:
    """Make this file (None: the bundled one) the process's calendar; it is read and checked now,
    so a broken file stops the service at start rather than at the first appeal. Years entered in
    the console are added by `use_entered_years` (and forgotten here)."""
    global _active, _entered, _merged
    calendar = load(Path(path) if path else BUNDLED)
    _active, _entered, _merged = Path(calendar.path), None, None
    return calendar


def use_entered_years(read: Callable[[], Entered], seconds: float) -> None:
    """Add the years entered in the console (`read`, e.g. `entered_years` over a session factory)
    to the file's calendar; each process reads them again after `seconds`, so an edit reaches every
    worker without a restart."""
    global _entered, _entered_seconds, _merged
    _entered, _entered_seconds, _merged = read, float(seconds), None


def forget_entered_years() -> None:
    """Read the entered years again on the next use (after an edit in this process)."""
    global _merged
    _merged = None


def entered_years(sessions) -> Callable[[], Entered]:
    """A reader of the calendar_days table (the years in calendar_years)."""

    def read() -> Entered:
        with sessions() as db:
            years: Entered = {year: {} for year in db.scalars(select(CalendarYear.year))}
            for day, year, kind in db.execute(
                select(CalendarDay.day, CalendarDay.year, CalendarDay.kind)
            ):
                years.setdefault(year, {})[day] = kind == DayKind.HOLIDAY
        return years

    return read


def merged(base: Calendar, entered: Entered) -> Calendar:
    """The file's calendar with each entered year replacing that year of the file."""
    if not entered:
        return base
    holidays = {d for d in base.holidays if d.year not in entered}
    workdays = {d for d in base.workdays if d.year not in entered}
    for days in entered.values():
        holidays |= {d for d, off in days.items() if off}
        workdays |= {d for d, off in days.items() if not off}
    last = max(base.covered_until, date(max(entered), 12, 31))
    return Calendar(base.path, frozenset(holidays), frozenset(workdays), last)


def active() -> Calendar:
    """The process's calendar: the file, with the years entered in the console (cached briefly)."""
    global _merged
    base = load(_active)
    if _entered is None:
        return base
    now = time.monotonic()
    if _merged is None or _merged[1] is not base or now - _merged[0] >= _entered_seconds:
        try:
            _merged = (now, base, merged(base, _entered()))
        except SQLAlchemyError:
            log.exception("holiday calendar: the years entered in the console could not be read")
            return _merged[2] if _merged else base
    return _merged[2]


def is_working_day(day: date) -> bool:
    """Monday to Friday unless a holiday; a 调休 Saturday or Sunday is a working day."""
    return active().is_working_day(day)


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (start itself does not count)."""
    calendar = active()
    current = start
    while days > 0:
        current += timedelta(days=1)
        if calendar.is_working_day(current):
            days -= 1
    if current > calendar.covered_until and calendar.path not in _warned:
        _warned.add(calendar.path)
        log.warning(
            "holiday calendar %s ends %s: dates after it count weekends and 元旦/劳动节/国庆节 only; "
            "add next year's State Council arrangement",
            calendar.path,
            calendar.covered_until,
        )
    return current


def today_in_china(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai."""
    return (now or utcnow()).astimezone(SHANGHAI).date()


def local(moment: datetime) -> datetime:
    """A stored UTC time shown in Asia/Shanghai."""
    return as_utc(moment).astimezone(SHANGHAI)
