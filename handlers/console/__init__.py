"""The staff console at /console: the parent blueprint (guard, security headers, cookie settings,
template globals, error pages), login and logout, and the attachments both ticket and proxy pages
show. The ticket pages are handlers/console/appeals.py, the review of proxy authorisations
handlers/console/proxies.py, the director pages handlers/console/admin.py.

Every view of personal data and every action writes an audit row in the same transaction.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, request, send_file, url_for

from bot.appeals import staff as worklist
from bot.appeals.rules import BY_KEY, STATUS_NAMES, shown_time
from bot.core.replies import minutes
from bot.platform import workdays
from bot.platform.attachment_store import StoreError
from bot.platform.staff_auth import (
    MAX_PASSWORD,
    ROLE_NAMES,
    USERNAME,
    Permission,
    authenticate,
    normalise_username,
)
from handlers.client_address import client_address
from handlers.console import accounts as console_accounts
from handlers.console import admin as console_admin
from handlers.console import appeals as console_appeals
from handlers.console import audit as console_audit
from handlers.console import calendar as console_calendar
from handlers.console import dashboard as console_dashboard
from handlers.console import imports as console_imports
from handlers.console import jobs as console_jobs
from handlers.console import proxies as console_proxies
from handlers.console import registrar as console_registrar
from handlers.console import second_factor
from handlers.console import verifiers as console_verifiers
from handlers.console.base import (
    end_session,
    guard,
    record,
    render,
    requires,
    runtime,
    security_headers,
)
from models import Attachment, AttachmentState, Proxy

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "web"
IMAGE_TYPES = ("image/jpeg", "image/png")
bp = Blueprint("console", __name__, url_prefix="/console", template_folder=str(TEMPLATES))
bp.before_request(guard)
bp.after_request(security_headers)
bp.register_blueprint(console_appeals.bp)
bp.register_blueprint(console_admin.bp)
bp.register_blueprint(console_proxies.bp)
bp.register_blueprint(console_registrar.bp)
bp.register_blueprint(console_verifiers.bp)
bp.register_blueprint(console_jobs.bp)
bp.register_blueprint(second_factor.bp)
bp.register_blueprint(console_accounts.bp)
bp.register_blueprint(console_audit.bp)
bp.register_blueprint(console_dashboard.bp)
bp.register_blueprint(console_imports.bp)
bp.register_blueprint(console_calendar.bp)


@bp.record_once
def _cookie_settings(state) -> None:
    """The session cookie: HttpOnly and SameSite=Lax (Secure when SESSION_COOKIE_SECURE is set)."""
    state.app.config["SESSION_COOKIE_HTTPONLY"] = True
    state.app.config["SESSION_COOKIE_SAMESITE"] = (
        state.app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    )


@bp.app_template_global()
def console_labels() -> dict:
    """Labels shared by the console templates."""
    return {
        "status": STATUS_NAMES,
        "categories": BY_KEY,
        "routes": worklist.ROUTE_NAMES,
        "roles": ROLE_NAMES,
        "campus": worklist.campus_name,
        "time": shown_time,
    }


@bp.app_template_global()
def calendar_notice() -> str | None:
    """A warning while the holiday calendar runs out within 60 days (due dates depend on it)."""
    calendar = workdays.active()
    if not calendar.needs_update(workdays.today_in_china(runtime().domain.clock())):
        return None
    year = calendar.covered_until.year + 1
    return (
        f"节假日日历只到 {calendar.covered_until.isoformat()}。请主任在“节假日”页按国务院办公厅发布的 {year} 年放假安排录入"
        f"（或更新日历文件 {Path(calendar.path).name}）；录入前，{year} 年的到期日只按周末和元旦、劳动节、国庆节计算。"
    )


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
def _error(exc):
    own = exc.description != type(exc).description  # ours are in Chinese; werkzeug's are not
    return render("error.html", exc.code, code=exc.code, message=exc.description if own else None)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username and password (limits per username and address, and per address:
    bot.platform.staff_auth)."""
    error, username = None, ""
    if request.method == "POST":
        username = request.form.get("username", "")[:64]
        typed = (
            normalise_username(username)
            if USERNAME.fullmatch(normalise_username(username))
            else "(invalid)"
        )
        with runtime().unit() as work:
            db = work.db
            g.staff = None
            # the attempt's row is written first: on SQLite its write lock queues concurrent
            # logins (a read first would make them fail); on PostgreSQL it costs one UPDATE
            attempt = record(db, "staff_login", result="checking", detail=f"username={typed}")
            db.flush()
            result = authenticate(
                db,
                runtime().redis,
                username,
                request.form.get("password", "")[:MAX_PASSWORD],
                client_address(),
            )
            g.staff = result.user
            attempt.result = "ok" if result.user else ("throttled" if result.wait else "failed")
            if result.user:
                attempt.actor_staff, attempt.detail = result.user.username, None
        if result.user:  # the second step (handlers/console/second_factor.py) starts the session
            return second_factor.begin(result.user, _safe_next(request.args.get("next")))
        g.staff = None
        error = (
            f"尝试次数过多，请 {minutes(result.wait)} 分钟后再试。"
            if result.wait
            else "用户名或密码不正确。"
        )
    return render("login.html", 401 if error else 200, error=error, username=username)


def _safe_next(target: str | None) -> str:
    """Only a path inside the console, never another site."""
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
        return target
    return url_for("console.appeals.queue")


@bp.post("/logout")
def logout():
    """End the session (also on the server side)."""
    with runtime().unit() as work:
        db = work.db
        record(db, "staff_logout")
    end_session()
    flash("已退出登录。")
    return redirect(url_for("console.login"))


@bp.get("/attachments/<int(max=2147483647):attachment_id>")
@requires(Permission.WORK_TICKETS)
def attachment(attachment_id: int):
    """A stored photo of a ticket (or of a proxy's notarised authorisation), for signed-in staff
    only; audited."""
    with runtime().unit() as work:
        db = work.db
        item = db.get(Attachment, attachment_id)
        if item is None or item.state != AttachmentState.STORED or not item.storage_key:
            abort(404)
        try:
            data = runtime().domain.attachments.get(item.storage_key)
        except StoreError:
            abort(404)
        if item.appeal is not None:
            subject, owner = item.appeal.student_id, item.appeal.ticket_no
        else:
            proxy = db.get(Proxy, item.proxy_id) if item.proxy_id else None
            subject, owner = (proxy.student_id, f"proxy:{proxy.id}") if proxy else (None, "—")
        record(db, "view_attachment", subject, detail=f"{owner} #{item.id}")
        mimetype = (
            item.content_type if item.content_type in IMAGE_TYPES else "application/octet-stream"
        )
    return send_file(io.BytesIO(data), mimetype=mimetype, max_age=0, conditional=False)
