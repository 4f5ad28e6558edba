"""The holiday calendar in the console (nested under the `console` blueprint), for directors: the
years covered, and a year's arrangement entered or corrected as lines (bot/platform/
holiday_calendar.py); saved in SQL, audited, used by every worker within its cache time."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from bot.platform import holiday_calendar as rules
from bot.platform import workdays
from handlers.console.base import record, render, runtime

bp = Blueprint("calendar", __name__)


@bp.app_template_global("may_edit_calendar")
def _may_edit_calendar(user) -> bool:
    return rules.may_edit_calendar(user)


def for_directors(view):
    """403 unless the signed-in user keeps the calendar."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not rules.may_edit_calendar(g.staff):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _page(year: int, text: str | None = None, error: str | None = None, status: int = 200):
    today = workdays.today_in_china(runtime().domain.clock())
    with runtime().unit() as work:
        covered = rules.coverage(work.db)
        if text is None:
            text = rules.year_text(work.db, year)
    return render(
        "calendar.html",
        status,
        year=year,
        years=rules.years_allowed(today),
        text=text,
        error=error,
        covered=covered,
        covered_until=workdays.active().covered_until,
    )


@bp.get("/calendar")
@for_directors
def calendar():
    """The years covered; the form for one year (the coming year unless chosen)."""
    today = workdays.today_in_china(runtime().domain.clock())
    chosen = request.args.get("year", "")
    year = int(chosen) if chosen.isdigit() and int(chosen) in rules.years_allowed(today) else None
    return _page(year or max(today.year + 1, workdays.active().covered_until.year + 1))


@bp.post("/calendar")
@for_directors
def save():
    """Check and save a year's arrangement."""
    today = workdays.today_in_china(runtime().domain.clock())
    chosen, text = request.form.get("year", ""), request.form.get("days", "")[:20000]
    year = int(chosen) if chosen.isdigit() and len(chosen) == 4 else 0
    try:
        plan = rules.parse_year(year, text, today)
    except rules.CalendarInputError as problem:
        with runtime().unit() as work:
            record(work.db, "calendar_year", result="refused", detail=f"{year}: {problem}")
        return _page(
            year if year in rules.years_allowed(today) else today.year, text, str(problem), 400
        )
    with runtime().unit() as work:
        added, removed = rules.save_year(work.db, plan, g.staff)
        record(
            work.db,
            "calendar_year",
            detail=f"{plan.year} holidays={plan.holidays} workdays={plan.workdays} "
            f"changed={added} removed={removed}",
        )
    workdays.forget_entered_years()
    flash(
        f"已保存 {plan.year} 年安排：放假 {plan.holidays} 天，调休上班 {plan.workdays} 天。"
        "各服务进程在 1 分钟内使用新日历。"
    )
    return redirect(url_for("console.calendar.calendar", year=plan.year), 303)
