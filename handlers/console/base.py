"""The staff console's request guard: the signed-in staff user, the 30-minute idle timeout, a
server-side session id (so that logging out really ends a session), CSRF tokens on every POST,
role checks and the security headers of every console response.

The Flask session cookie carries `sid`, `staff_id`, `seen` (epoch seconds), `since` (when the
session began: one begun before the user's password or role last changed is ended) and `csrf`;
Redis holds `gc:console:sid:<sid>` -> staff id with the idle TTL, refreshed on each request.
Between the password and the second factor it carries only `pending` (second_factor.py).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
import uuid
from functools import wraps

from flask import abort, flash, g, redirect, render_template, request, session, url_for

from bot.core import keys
from bot.core.accounts import audit
from bot.platform.staff_auth import Permission, can
from handlers.current import runtime
from models import AuditEvent, StaffUser, as_utc

IDLE_SECONDS = 30 * 60
PUBLIC_ENDPOINTS = {
    "console.login",
    "console.second_factor.verify",  # they check the pending sign-in themselves
    "console.second_factor.send_sms",
    "console.accounts.redeem_reset",  # the one-time token is the credential
}


def _sid_key(sid: str) -> str:
    return keys.console_session(sid)


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def start_session(user: StaffUser) -> None:
    """A fresh session for a user who just signed in: a new id, a new CSRF token."""
    session.clear()
    sid = secrets.token_urlsafe(24)
    runtime().redis.set(_sid_key(sid), str(user.id), ex=IDLE_SECONDS)
    now = time.time()  # `since` to the microsecond: a sign-in right after a reset must survive it
    session.update(
        sid=sid, staff_id=user.id, seen=int(now), since=now, csrf=secrets.token_urlsafe(32)
    )


def end_session() -> None:
    """Forget the server-side session and clear the cookie."""
    sid = session.get("sid")
    if sid:
        runtime().redis.delete(_sid_key(sid))
    session.clear()


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not (sent and expected and hmac.compare_digest(sent.encode(), expected.encode())):
        abort(400, description="页面已过期或请求无效，请刷新页面后重试。")


def _expired() -> bool:
    seen = session.get("seen")
    return not isinstance(seen, int) or time.time() - seen > IDLE_SECONDS


def guard():
    """before_request: request id, CSRF, then the signed-in user (or back to the login page)."""
    g.request_id = uuid.uuid4().hex[:16]
    g.csp_nonce = secrets.token_urlsafe(16)
    g.staff = None
    if request.method == "POST":
        _check_csrf()
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if "staff_id" not in session:
        return redirect(
            url_for(
                "console.login",
                next=request.full_path.rstrip("?") if request.method == "GET" else None,
            )
        )
    redis = runtime().redis
    if _expired() or redis.get(_sid_key(session.get("sid", ""))) is None:
        end_session()
        flash("登录已超时（30 分钟无操作），请重新登录。")
        return redirect(url_for("console.login"))
    with runtime().unit() as work:
        db = work.db
        user = db.get(StaffUser, session["staff_id"])
    if user is None or not user.active:
        end_session()
        flash("账号已停用，请联系主任。")
        return redirect(url_for("console.login"))
    if user.credentials_at and session.get("since", 0) < as_utc(user.credentials_at).timestamp():
        end_session()
        flash("你的密码或角色已更改，请重新登录。")
        return redirect(url_for("console.login"))
    g.staff = user
    session["seen"] = int(time.time())
    redis.expire(_sid_key(session["sid"]), IDLE_SECONDS)
    return None


def security_headers(response):
    """after_request: no caching, no framing, same-origin content only."""
    nonce = g.get("csp_nonce", "")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return response


def requires(permission: Permission):
    """A view decorator: 403 unless the signed-in user's role grants `permission`."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if g.staff is None or not can(g.staff, permission):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def render(template: str, status: int = 200, **context):
    """Render a console template with the user, CSRF token and CSP nonce."""
    html = render_template(
        f"console/{template}",
        staff=g.get("staff"),
        csrf_token=csrf_token(),
        nonce=g.get("csp_nonce", ""),
        Permission=Permission,
        can=can,
        **context,
    )
    return html, status


def page_number(raw: str | None) -> int:
    """?page= as a page number: 1 unless it is 1-6 ASCII digits (not "²", not a number too big for OFFSET)."""
    return int(raw) if raw and re.fullmatch(r"[0-9]{1,6}", raw) and int(raw) > 0 else 1


def record(
    db,
    action: str,
    subject_student_id: int | None = None,
    result: str = "ok",
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit row for the signed-in user's action to `db` (committed by the caller)."""
    staff = g.get("staff")
    return audit(
        db,
        None,
        action,
        subject_student_id,
        result=result,
        request_id=g.get("request_id"),
        detail=(detail or "")[:255] or None,
        actor_staff=staff.username if staff else None,
    )
