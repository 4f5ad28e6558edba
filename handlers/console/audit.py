"""The oversight pages of the console (directors and auditors): the audit log with its filters and
pages, and the weekly anomaly report. Both are read-only; reading them is audited too."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, request

from bot.platform import anomalies, audit_trail
from bot.platform.staff_auth import Permission
from handlers.console.audit_labels import ACTION_NAMES, LABELS, RESULT_NAMES
from handlers.console.base import page_number, record, render, requires, runtime

bp = Blueprint("audit", __name__)
WEEKS_OFFERED = 12


@bp.get("/audit")
@requires(Permission.VIEW_AUDIT)
def log():
    """Audit rows, newest first, 50 a page, filtered by local date range, staff, action, student
    record and result."""
    filters = audit_trail.AuditFilters.from_args(request.args, ACTION_NAMES, RESULT_NAMES)
    with runtime().unit() as work:
        listing = audit_trail.audit_page(work.db, filters, page_number(request.args.get("page")))
        people = audit_trail.staff_names(work.db)
        record(work.db, "view_audit", detail=filters.describe())
    return render(
        "audit.html", listing=listing, filters=filters, people=people, audit_labels=LABELS
    )


@bp.get("/anomalies")
@requires(Permission.VIEW_ANOMALIES)
def anomalies_report():
    """The anomaly report of one week: the last complete week unless ?week=2026-W47 names
    another (this week so far included)."""
    now = runtime().domain.clock()
    current = anomalies.Week.containing(now)
    week = anomalies.Week.parse(request.args.get("week", "")) or anomalies.Week.last_complete(now)
    if week.monday > current.monday:
        week = current
    offered = [anomalies.Week(current.monday - timedelta(weeks=n)) for n in range(WEEKS_OFFERED)]
    with runtime().unit() as work:
        report = anomalies.weekly_report(work.db, week)
        record(work.db, "view_anomalies", detail=week.label)
    return render(
        "anomalies.html",
        report=report,
        sections=anomalies.SECTIONS,
        weeks=offered,
        current=current,
    )
