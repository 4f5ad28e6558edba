"""The ticket pages of the staff console (nested under the `console` blueprint): the queue with its
filters, one ticket (with audited reveal of personal data), status changes (the filer is told
through the `ticket_changed` effect after the commit) and internal notes.

Every view of personal data and every action writes an audit row in the same transaction.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from bot.appeals import staff as worklist
from bot.appeals.notices import ticket_changed
from bot.appeals.rules import BY_KEY, NEXT_ROUTES, STATUS_NAMES, is_overdue
from bot.lost.staff import lost_view
from bot.platform.staff_auth import Permission
from handlers.console.base import page_number, record, render, requires, runtime
from models import Appeal

bp = Blueprint("appeals", __name__)


@bp.get("/")
@requires(Permission.WORK_TICKETS)
def queue():
    """The queue with filters; urgent first, then by due date; 50 per page."""
    filters = worklist.QueueFilters.from_args(request.args)
    page = request.args.get("page", "1")
    with runtime().unit() as work:
        db = work.db
        listing = worklist.queue_page(db, filters, page_number(page), runtime().domain.clock())
    return render("queue.html", listing=listing, filters=filters, categories=list(BY_KEY.values()))


def _ticket_page(
    ticket_id: int, reveal: bool = False, error: str | None = None, form=None, status: int = 200
):
    with runtime().unit() as work:
        db = work.db
        appeal = db.get(Appeal, ticket_id)
        if appeal is None:
            abort(404)
        person = worklist.person_of(db, runtime().domain.cipher, appeal, reveal)
        lost = lost_view(db, runtime().domain.cipher, appeal, reveal)
        record(
            db,
            "reveal_pii" if reveal else "view_ticket",
            appeal.student_id,
            detail=appeal.ticket_no,
        )
        return render(
            "ticket.html",
            status,
            appeal=appeal,
            person=person,
            revealed=reveal,
            events=worklist.timeline(db, appeal),
            moves=worklist.allowed_moves(appeal),
            overdue=is_overdue(appeal, runtime().domain.clock()),
            category=BY_KEY.get(appeal.category),
            routes=NEXT_ROUTES,
            error=error,
            form=form or {},
            attachments=list(appeal.attachments),
            lost=lost,
        )


@bp.get("/tickets/<int(max=2147483647):ticket_id>")
@requires(Permission.WORK_TICKETS)
def ticket(ticket_id: int):
    """One ticket: category, description, timeline, attachments, the person (masked); audited."""
    return _ticket_page(ticket_id)


@bp.post("/tickets/<int(max=2147483647):ticket_id>/reveal")
@requires(Permission.WORK_TICKETS)
def reveal(ticket_id: int):
    """The same page with personal data unmasked, for this page view only; audited."""
    return _ticket_page(ticket_id, reveal=True)


@bp.post("/tickets/<int(max=2147483647):ticket_id>/status")
@requires(Permission.WORK_TICKETS)
def change_status(ticket_id: int):
    """Move the ticket (note required; a rejection names the next route), then notify the filer."""
    form = request.form
    refused = None
    with runtime().unit() as work:
        db = work.db
        appeal = db.get(Appeal, ticket_id, with_for_update=True)
        if appeal is None:
            abort(404)
        try:
            event = worklist.move(
                db,
                appeal,
                form.get("to", ""),
                form.get("note", ""),
                g.staff,
                expected=form.get("from"),
                next_route=form.get("next_route") or None,
            )
        except worklist.ActionRefused as problem:
            work.rollback()  # and what it collected to tell anyone
            refused = str(problem)
            record(
                db,
                "appeal_status",
                appeal.student_id,
                result="refused",
                detail=f"{appeal.ticket_no} -> {form.get('to', '')[:16]}",
            )
        else:
            record(
                db,
                "appeal_status",
                appeal.student_id,
                detail=f"{appeal.ticket_no} {event.from_status} -> {event.to_status}",
            )
            work.effects.append(ticket_changed(ticket_id, event_id=event.id))
    if refused is not None:  # the refusal is audited (committed) before the page is drawn
        return _ticket_page(ticket_id, error=refused, form=form, status=400)
    flash(f"已改为“{STATUS_NAMES[event.to_status]}”，并已通知申请人。")
    return redirect(url_for("console.appeals.ticket", ticket_id=ticket_id), 303)


@bp.post("/tickets/<int(max=2147483647):ticket_id>/note")
@requires(Permission.WORK_TICKETS)
def add_note(ticket_id: int):
    """An internal note on the timeline (the filer does not see it)."""
    with runtime().unit() as work:
        db = work.db
        appeal = db.get(Appeal, ticket_id)
        if appeal is None:
            abort(404)
        try:
            worklist.add_note(db, appeal, request.form.get("note", ""), g.staff)
        except worklist.ActionRefused as refused:
            return _ticket_page(ticket_id, error=str(refused), form=request.form, status=400)
        record(db, "appeal_note", appeal.student_id, detail=appeal.ticket_no)
    flash("内部备注已保存。")
    return redirect(url_for("console.appeals.ticket", ticket_id=ticket_id), 303)
