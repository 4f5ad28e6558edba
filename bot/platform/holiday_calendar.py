"""Entering a year's holiday arrangement in the console (国务院办公厅关于某年部分节假日安排的通知):
the days off and the 调休 weekend days worked, one line each (or a range of days off), checked as a
whole, then stored in SQL where bot/platform/workdays.py reads it (every worker, within its cache
time). A year entered here replaces that year of the bundled calendar file.

A line is `2027-01-01 休 元旦`, `2027-02-10~2027-02-17 休 春节` or `2027-02-07 班`: a date (or a
range) in the year, 休/放假 or 班/上班 (holiday/workday also do), and an optional name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.platform import workdays
from models import CalendarDay, CalendarYear, DayKind, StaffRole, StaffUser, utcnow

OFF_WORDS = {"休", "假", "放假", "休息", "holiday", "off"}
WORK_WORDS = {"班", "上班", "补班", "调休上班", "workday", "work"}
FIXED_NAMES = {(1, 1): "元旦", (5, 1): "劳动节", (5, 2): "劳动节", (10, 1): "国庆节"}
FIXED_NAMES |= {(10, 2): "国庆节", (10, 3): "国庆节"}
MAX_LINES = 200
_DATE = r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
_LINE = re.compile(rf"{_DATE}(?:\s*(?:~|～|至|到|--|—)\s*{_DATE})?\s+(\S+)(?:\s+(.{{1,32}}))?")


class CalendarInputError(ValueError):
    """The arrangement cannot be saved; the message (Chinese) names the line and what to fix."""


@dataclass(frozen=True)
class YearPlan:
    """One year's arrangement: day -> (is a holiday, name)."""

    year: int
    days: dict[date, tuple[bool, str | None]]

    @property
    def holidays(self) -> int:
        return sum(1 for off, _name in self.days.values() if off)

    @property
    def workdays(self) -> int:
        return len(self.days) - self.holidays


def may_edit_calendar(user: StaffUser | None) -> bool:
    """Directors keep the calendar."""
    return bool(user and user.active and user.role == StaffRole.DIRECTOR)


def years_allowed(today: date) -> range:
    """Last year to two years ahead."""
    return range(today.year - 1, today.year + 3)


def parse_year(year: int, text: str, today: date) -> YearPlan:
    """Read and check a year's lines (CalendarInputError says what is wrong, by line)."""
    if year not in years_allowed(today):
        allowed = years_allowed(today)
        raise CalendarInputError(f"只能录入 {allowed[0]}–{allowed[-1]} 年的安排。")
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise CalendarInputError(f"最多 {MAX_LINES} 行。")
    days: dict[date, tuple[bool, str | None]] = {}
    for number, line in enumerate(lines, start=1):
        match = _LINE.fullmatch(line)
        if not match:
            raise CalendarInputError(
                f"第 {number} 行看不懂：“{line[:40]}”。格式如 2027-01-01 休 元旦，或 2027-02-07 班。"
            )
        first, last = _date(match.groups()[0:3], number), _date(match.groups()[3:6], number)
        word, name = match.group(7).lower(), (match.group(8) or "").strip() or None
        if word not in OFF_WORDS | WORK_WORDS:
            raise CalendarInputError(f"第 {number} 行：“{word[:8]}”应为 休 或 班。")
        off = word in OFF_WORDS
        last = last or first
        if last < first or (last - first).days > 15:
            raise CalendarInputError(f"第 {number} 行：日期范围不对（最多连续 16 天）。")
        if not off and last != first:
            raise CalendarInputError(f"第 {number} 行：调休上班日请逐日列出。")
        day = first
        while day <= last:
            _add(days, day, off, name, year, number)
            day += timedelta(days=1)
    _check_whole(year, days)
    return YearPlan(year, days)


def _date(parts, number: int) -> date | None:
    if parts[0] is None:
        return None
    try:
        return date(*(int(p) for p in parts))
    except ValueError:
        raise CalendarInputError(f"第 {number} 行：日期不存在。") from None


def _add(days: dict, day: date, off: bool, name, year: int, number: int) -> None:
    if day.year != year:
        raise CalendarInputError(f"第 {number} 行：{day.isoformat()} 不在 {year} 年。")
    if day in days and days[day][0] != off:
        raise CalendarInputError(f"第 {number} 行：{day.isoformat()} 既是假日又是上班日。")
    if not off and day.weekday() < 5:
        raise CalendarInputError(
            f"第 {number} 行：{day.isoformat()} 是工作日，调休上班日只能是周六或周日。"
        )
    days[day] = (off, name or (days.get(day) or (off, None))[1])


def _check_whole(year: int, days: dict) -> None:
    missing = [
        f"{date(year, m, d).isoformat()}（{name}）"
        for (m, d), name in FIXED_NAMES.items()
        if not days.get(date(year, m, d), (False,))[0]
    ]
    if missing:
        raise CalendarInputError(
            "缺少法定节假日：" + "、".join(missing) + "。请按国务院办公厅的通知完整录入。"
        )


def save_year(db: Session, plan: YearPlan, staff: StaffUser) -> tuple[int, int]:
    """Replace the year's entered days; returns (days added, days removed) against before. After
    the commit, `workdays.forget_entered_years()` makes this process see it at once."""
    before = {
        row.day: row.kind == DayKind.HOLIDAY
        for row in db.scalars(select(CalendarDay).where(CalendarDay.year == plan.year))
    }
    year = db.get(CalendarYear, plan.year) or CalendarYear(year=plan.year)
    year.updated_by, year.updated_at = staff.username, utcnow()
    db.add(year)
    db.execute(delete(CalendarDay).where(CalendarDay.year == plan.year))
    db.flush()
    db.add_all(
        CalendarDay(
            day=day,
            year=plan.year,
            kind=DayKind.HOLIDAY if off else DayKind.WORKDAY,
            name=name,
        )
        for day, (off, name) in sorted(plan.days.items())
    )
    db.flush()
    now = {day: off for day, (off, _name) in plan.days.items()}
    added = sum(1 for day, off in now.items() if before.get(day) != off)
    removed = sum(1 for day in before if day not in now)
    return added, removed


def year_text(db: Session, year: int) -> str:
    """The year's lines as entered (or, never entered, as the calendar file has them)."""
    rows = db.scalars(select(CalendarDay).where(CalendarDay.year == year).order_by(CalendarDay.day))
    lines = [
        f"{row.day.isoformat()} {'休' if row.kind == DayKind.HOLIDAY else '班'}"
        + (f" {row.name}" if row.name else "")
        for row in rows
    ]
    if lines or db.get(CalendarYear, year):
        return "\n".join(lines)
    base = workdays.load(workdays.active().path)
    days = sorted(
        [(d, "休") for d in base.holidays if d.year == year]
        + [(d, "班") for d in base.workdays if d.year == year]
    )
    return "\n".join(f"{d.isoformat()} {word}" for d, word in days)


def coverage(db: Session) -> list[tuple[int, str, str | None]]:
    """The years the calendar covers: (year, 控制台 or 日历文件, who entered it)."""
    entered = {y.year: y.updated_by for y in db.scalars(select(CalendarYear))}
    base = workdays.load(workdays.active().path)
    years = {d.year for d in base.holidays | base.workdays} | set(entered)
    return [
        (year, "控制台录入" if year in entered else "日历文件", entered.get(year))
        for year in sorted(years)
    ]
