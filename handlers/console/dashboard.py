"""The dashboard (nested under the `console` blueprint): the service's figures as SVG charts for
directors and auditors, the same per reviewer for directors, a date range, and each figure as CSV.
The figures are computed in bot/dashboard/figures.py; viewing and downloading are audited."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, Response, abort, g, request

from bot.dashboard import figures as service
from bot.dashboard.rules import PeriodError, period_from, sees_dashboard, sees_reviewers
from handlers.console.base import record, render, runtime
from handlers.console.charts import chart

bp = Blueprint("dashboard", __name__)
FIGURE_KEYS = (*service.SERVICE, "reviewers")


@bp.app_template_global("sees_dashboard")
def _sees_dashboard(user) -> bool:
    return sees_dashboard(user)


def for_dashboard(view):
    """403 unless the signed-in user is a director or an auditor."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not sees_dashboard(g.staff):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.get("/dashboard")
@for_dashboard
def dashboard():
    """Every figure of the chosen days as a chart (and the reviewers' for a director)."""
    now = runtime().domain.clock()
    try:
        period = period_from(request.args.get("start"), request.args.get("end"), now)
        error = None
    except PeriodError as problem:
        period, error = period_from(None, None, now), str(problem)
    with runtime().unit() as work:
        shown = service.service_figures(work.db, period, now)
        if sees_reviewers(g.staff):
            shown.append(service.reviewers(work.db, period))
        record(work.db, "view_dashboard", detail=f"{period.start}..{period.end}")
    return render(
        "dashboard.html",
        400 if error else 200,
        figures=[(fig, chart(fig)) for fig in shown],
        period=period,
        error=error,
    )


@bp.get("/dashboard/<key>.csv")
@for_dashboard
def figure_csv(key: str):
    """One figure as CSV (UTF-8 with BOM, for Excel)."""
    if key not in FIGURE_KEYS or (key == "reviewers" and not sees_reviewers(g.staff)):
        abort(404)
    now = runtime().domain.clock()
    try:
        period = period_from(request.args.get("start"), request.args.get("end"), now)
    except PeriodError as problem:
        abort(400, description=str(problem))
    with runtime().unit() as work:
        fig = service.figure(work.db, key, period, now)
        record(work.db, "dashboard_csv", detail=f"{key} {period.start}..{period.end}")
    name = f"gradcert-{key}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return Response(
        service.as_csv(fig),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
