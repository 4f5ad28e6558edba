"""The dashboard's figures: which there are, in the dashboard's order, and one by key. Each is one
SQL aggregate over the tables, on SQLite and PostgreSQL (appeal_figures.py, activity_figures.py),
returned as a `Figure` (a header and rows) that the console draws as a chart and offers as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from bot.dashboard.activity_figures import (
    BINDING_FAILURES,
    OUTCOME_NAMES,
    binding_attempts,
    binding_failures,
    certificates_per_day,
    sms_per_day,
    verification_lookups,
)
from bot.dashboard.appeal_figures import (
    DECIDED,
    appeals_decided,
    appeals_opened,
    overdue_share,
    reviewers,
    time_to_decide,
)
from bot.dashboard.counting import Figure, percentile, week_of, weeks
from bot.dashboard.rules import Period

__all__ = [
    "BINDING_FAILURES",
    "DECIDED",
    "OUTCOME_NAMES",
    "SERVICE",
    "Figure",
    "as_csv",
    "figure",
    "percentile",
    "reviewers",
    "service_figures",
    "week_of",
    "weeks",
]

SERVICE: dict[str, Callable] = {
    "appeals_opened": appeals_opened,
    "appeals_decided": appeals_decided,
    "overdue": overdue_share,
    "time_to_decide": time_to_decide,
    "binding": binding_attempts,
    "binding_failures": binding_failures,
    "sms": sms_per_day,
    "certificates": certificates_per_day,
    "lookups": verification_lookups,
}


def figure(db: Session, key: str, period: Period, now: datetime) -> Figure:
    """One figure by key (KeyError for an unknown key)."""
    if key == "reviewers":
        return reviewers(db, period)
    compute = SERVICE[key]
    return compute(db, period, now) if compute is overdue_share else compute(db, period)


def service_figures(db: Session, period: Period, now: datetime) -> list[Figure]:
    """Every figure of the service, in the dashboard's order."""
    return [figure(db, key, period, now) for key in SERVICE]


def as_csv(fig: Figure) -> str:
    """The figure as CSV text with a BOM (Excel reads it as UTF-8); a text cell that a spreadsheet
    would run as a formula (a reviewer's name typed as =...) is quoted with a leading '."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(fig.header)
    for row in fig.rows:
        writer.writerow(
            "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
            for v in row
        )
    return "\ufeff" + out.getvalue()
