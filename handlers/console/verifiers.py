"""Directors issue and revoke the API keys of organisations that verify certificates (nested under
the `console` blueprint). A new key is shown once, on the answer to the form, and stored hashed."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from sqlalchemy import select

from bot.core import keys as redis_keys
from bot.platform import staff_auth as staff_service
from bot.verifiers import rules
from handlers.console.base import record, render, requires, runtime
from models import VerifierKey, as_utc

bp = Blueprint("verifiers", __name__)


def _page(issued: rules.IssuedKey | None = None, error: str | None = None, form=None, status=200):
    rt = runtime()
    now = rt.domain.clock()
    with rt.unit() as work:
        rows = work.db.scalars(
            select(VerifierKey).order_by(VerifierKey.revoked_at.is_not(None), VerifierKey.id.desc())
        ).all()
    listed = [
        {
            "key": key,
            "used": rules.used_today(rt.redis, key, now),
            "state": "revoked"
            if key.revoked_at
            else "expired"
            if as_utc(key.expires_at) <= now
            else "active",
        }
        for key in rows
    ]
    html, code = render(
        "verifiers.html",
        status,
        listed=listed,
        issued=issued,
        error=error,
        form=form or {},
        submission=secrets.token_urlsafe(16),
    )
    return html, code, {"Cache-Control": "no-store"}


@bp.get("/verifiers")
@requires(staff_service.Permission.VERIFIERS)
def keys():
    """The organisations' keys (active first) and the form to issue one."""
    return _page()


@bp.post("/verifiers")
@requires(staff_service.Permission.VERIFIERS)
def issue():
    """Issue a key; the answer shows it once. The form's one-time token makes a reload of the
    answer (which sends the form again) issue nothing."""
    form = request.form
    token = form.get("submission", "")[:64]
    if not token or not runtime().redis.set(redis_keys.console_form(token), 1, nx=True, ex=86400):
        flash("这个表单已经提交过，没有再发放密钥。")
        return redirect(url_for("console.verifiers.keys"), 303)
    with runtime().unit() as work:
        try:
            issued = rules.issue_key(
                work.db,
                form.get("organisation", ""),
                form.get("contact", ""),
                form.get("daily_quota", ""),
                form.get("days", ""),
                g.staff.username,
                runtime().domain.clock(),
            )
        except rules.VerifierInputError as problem:
            work.rollback()
            return _page(error=str(problem), form=dict(form), status=400)
        record(
            work.db,
            "verifier_create",
            detail=f"key={issued.key.id} {issued.key.key_prefix} {issued.key.organisation[:60]}",
        )
    return _page(issued=issued, status=201)


@bp.post("/verifiers/<int(max=2147483647):key_id>/revoke")
@requires(staff_service.Permission.VERIFIERS)
def revoke(key_id: int):
    """Revoke a key at once: its next request is refused."""
    with runtime().unit() as work:
        key = work.db.get(VerifierKey, key_id)
        if key is None:
            abort(404)
        if rules.revoke_key(key, g.staff.username, runtime().domain.clock()):
            record(work.db, "verifier_revoke", detail=f"key={key.id} {key.key_prefix}")
    flash(f"已停用 {key.organisation} 的查验密钥 {key.key_prefix}…。")
    return redirect(url_for("console.verifiers.keys"), 303)
