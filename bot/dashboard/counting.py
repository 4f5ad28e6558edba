"""Counting for the dashboard: a figure (a header and rows), the Asia/Shanghai day of a stored
time computed in SQL (`local_day`, on SQLite and PostgreSQL), weeks that start on Monday, and the
nearest-rank percentile."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Date, and_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from bot.dashboard.rules import Period


class local_day(FunctionElement):  # noqa: N801 (an SQL function)
    """The Asia/Shanghai date of a stored UTC time (on SQLite as 'YYYY-MM-DD' text, which compares
    with its stored dates as text does)."""

    type = Date()
    inherit_cache = True


@compiles(local_day, "sqlite")
def _local_day_sqlite(element, compiler, **kw) -> str:
    # SQLite keeps the UTC time as naive text; China has had no daylight saving since 1991
    return f"date({compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(local_day, "postgresql")
def _local_day_postgresql(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(({column} AT TIME ZONE 'Asia/Shanghai') AS DATE)"


@dataclass(frozen=True)
class Figure:
    """One figure: `rows` under `header`; `chart` says how the console draws it (bars, stacked,
    lines, hbars); `summary` is a line of headline numbers."""

    key: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple]
    chart: str
    summary: str = ""


def week_of(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


def weeks(period: Period) -> list[date]:
    """The Mondays of the weeks the period touches."""
    return sorted({week_of(day) for day in period.days()})


def day_of(value) -> date:
    """A day from SQL: a date (PostgreSQL) or 'YYYY-MM-DD' text (SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def within(column, period: Period):
    """The SQL condition: a stored time inside the period."""
    return and_(column >= period.since, column < period.until)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (0 < share <= 1) of the values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(round(len(ordered) * share, 9)))  # 0.9 * 70 is 63.00000000000001
    return ordered[rank - 1]


def rounded(value: float | None) -> float | str:
    """Hours shown with one decimal ("" when there is nothing to show)."""
    return "" if value is None else round(value, 1)


def daily(names: tuple[str, ...], found, period: Period) -> tuple[list[tuple], list[int]]:
    """Rows of (day, count of each name) for every day of the period, and the totals."""
    counts: dict[date, Counter] = defaultdict(Counter)
    for day, name, count in found:
        counts[day_of(day)][name] += count
    rows = [(d.isoformat(), *(counts[d][n] for n in names)) for d in period.days()]
    totals = [sum(row[i + 1] for row in rows) for i in range(len(names))]
    return rows, totals
