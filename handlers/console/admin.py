"""Director pages of the staff console (nested under the `console` blueprint): the CSV export of
tickets behind an SMS code and staff user management (the list, adding and disabling; the other
account actions are handlers/console/accounts.py, the audit log handlers/console/audit.py)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, request, url_for
from sqlalchemy import select

from bot.appeals import staff as worklist
from bot.platform import staff_auth as staff_service
from bot.platform.otp import Check
from handlers.console.base import record, render, requires, runtime
from models import StaffUser

bp = Blueprint("admin", __name__)


def _export_page(filters: worklist.QueueFilters, error: str | None = None, status: int = 200):
    phone = staff_service.staff_phone(runtime().domain.cipher, g.staff)
    return render(
        "export.html",
        status,
        filters=filters,
        error=error,
        phone_tail=phone[-4:] if phone else None,
    )


@bp.get("/export")
@requires(staff_service.Permission.EXPORT)
def export():
    """The export page: the filters that apply, a button to text a code, the code field."""
    return _export_page(worklist.QueueFilters.from_args(request.args))


@bp.post("/export/code")
@requires(staff_service.Permission.EXPORT)
def export_code():
    """Text a one-time export code (valid 5 minutes, one export) to the director's phone."""
    filters = worklist.QueueFilters.from_args(request.form)
    domain = runtime().domain
    sent = staff_service.send_export_code(domain.cipher, domain.otp, domain.sms, g.staff)
    with runtime().unit() as work:
        db = work.db
        record(db, "export_code", result="ok" if sent.ok else (sent.refusal or "refused"))
    if not sent.ok:
        return _export_page(filters, staff_service.refusal_text(sent), 429 if sent.wait else 400)
    flash("验证码已发送到你登记的手机，5 分钟内有效。")
    return redirect(url_for("console.admin.export", **filters.as_args()), 303)


@bp.post("/export")
@requires(staff_service.Permission.EXPORT)
def export_download():
    """The CSV (UTF-8 with BOM) of the filtered tickets, once the code checks out."""
    filters = worklist.QueueFilters.from_args(request.form)
    check = staff_service.check_export_code(
        runtime().domain.otp, g.staff, request.form.get("code", "")
    )
    if check is not Check.OK:
        with runtime().unit() as work:
            record(work.db, "export_csv", result=check.value)
        return _export_page(filters, staff_service.CHECK_TEXT[check], 400)
    with runtime().unit() as work:
        body, count = worklist.export_csv(work.db, filters, runtime().domain.clock())
        record(work.db, "export_csv", detail=f"rows={count} filters={filters.as_args()}")
    stamp = runtime().domain.clock().strftime("%Y%m%d-%H%M")
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="gradcert-appeals-{stamp}.csv"'},
    )


@bp.get("/users")
@requires(staff_service.Permission.MANAGE_USERS)
def users(error: str | None = None, form=None, status: int = 200, issued: dict | None = None):
    """Staff accounts, with the form to add one (and, once, a reset link just issued)."""
    with runtime().unit() as work:
        db = work.db
        people = db.scalars(
            select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.username)
        ).all()
    return render("users.html", status, people=people, error=error, form=form or {}, issued=issued)


@bp.post("/users")
@requires(staff_service.Permission.MANAGE_USERS)
def create_user():
    """Add a clerk or a director (a director needs a phone for export codes)."""
    form = request.form
    with runtime().unit() as work:
        db = work.db
        try:
            user = staff_service.create_staff(
                db,
                runtime().domain.cipher,
                form.get("username", ""),
                form.get("display_name", ""),
                form.get("role", ""),
                form.get("password", ""),
                form.get("phone") or None,
            )
        except staff_service.StaffInputError as problem:
            work.rollback()  # and what it collected to tell anyone
            return users(str(problem), {k: v for k, v in form.items() if k != "password"}, 400)
        record(db, "staff_create", detail=f"{user.username} role={user.role}")
    flash(f"已创建账号 {user.username}。")
    return redirect(url_for("console.admin.users"), 303)


@bp.post("/users/<int(max=2147483647):user_id>/disable")
@requires(staff_service.Permission.MANAGE_USERS)
def disable_user(user_id: int):
    """Switch an account off; its sessions end on their next request."""
    with runtime().unit() as work:
        db = work.db
        user = db.get(StaffUser, user_id)
        if user is None:
            abort(404)
        try:
            staff_service.disable_staff(db, user, g.staff)
        except staff_service.StaffInputError as problem:
            return users(str(problem), None, 400)
        record(db, "staff_disable", detail=user.username)
    flash(f"已停用账号 {user.username}。")
    return redirect(url_for("console.admin.users"), 303)
