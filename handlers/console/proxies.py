"""Proxy authorisation pages of the staff console (nested under the `console` blueprint): the queue
of requests, one request with the notarised authorisation (audited view, audited reveal of the
graduate's record), and the staff decisions: approve within a scope, refuse, revoke. The rules are
in bot/proxies/staff.py; each decision is audited in its transaction, and the texts for
the proxy and the graduate are queued after the commit."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from bot.appeals.rules import shown_time
from bot.core.effects import push_text
from bot.core.messages import Effect
from bot.platform.staff_auth import Permission
from bot.proxies import rules as proxies
from bot.proxies import staff as review
from handlers.console.base import page_number, record, render, requires, runtime
from models import Account, Proxy

bp = Blueprint("proxies", __name__)


@bp.get("/proxies")
@requires(Permission.WORK_TICKETS)
def queue():
    """The requests: awaiting review first (oldest first), filtered by state; 50 per page."""
    filters = review.ProxyFilters.from_args(request.args)
    page = request.args.get("page", "1")
    with runtime().unit() as work:
        db = work.db
        listing = review.queue_page(db, filters, page_number(page))
        return render(
            "proxies.html",
            listing=listing,
            filters=filters,
            states=review.STATE_NAMES,
            time=shown_time,
        )


def _proxy_page(
    proxy_id: int,
    reveal: bool = False,
    error: str | None = None,
    form=None,
    failed: str = "",
    status: int = 200,
):
    with runtime().unit() as work:
        db = work.db
        proxy = db.get(Proxy, proxy_id)
        if proxy is None:
            abort(404)
        graduate = review.graduate_of(db, runtime().domain.cipher, proxy, reveal)
        record(
            db,
            "reveal_pii" if reveal else "view_proxy",
            proxy.student_id,
            detail=f"proxy:{proxy.id}",
        )
        return render(
            "proxy.html",
            status,
            proxy=proxy,
            graduate=graduate,
            revealed=reveal,
            error=error,
            form=form or {},
            failed=failed,
            attachments=review.attachments_of(db, proxy),
            time=shown_time,
            states=review.STATE_NAMES,
            scopes=review.SCOPE_NAMES,
            relation=proxies.RELATION_NAMES,
            confirmed_by=review.CONFIRMED_BY,
            revoked_by=review.REVOKED_BY,
            channel=review.CHANNEL_NAMES,
            account=db.get(Account, proxy.proxy_account_id),
            reviewer=review.reviewer_name(db, proxy),
            revocation=review.staff_revocation(db, proxy),
            note_limit=review.NOTE_LIMIT,
        )


@bp.get("/proxies/<int(max=2147483647):proxy_id>")
@requires(Permission.WORK_TICKETS)
def detail(proxy_id: int):
    """One request: relation, the graduate (masked), the confirmation, the notarised number and photos."""
    return _proxy_page(proxy_id)


@bp.post("/proxies/<int(max=2147483647):proxy_id>/reveal")
@requires(Permission.WORK_TICKETS)
def reveal(proxy_id: int):
    """The same page with the graduate's record unmasked, for this page view only; audited."""
    return _proxy_page(proxy_id, reveal=True)


def _told(decision: review.Decision, graduate_too: bool) -> str:
    """Who the flash message says was told."""
    if not graduate_too:
        return "已通知代办人。" if decision.to_proxy else "代办人没有可推送的账号，未通知。"
    if decision.to_graduate:
        return "已通知代办人和毕业生。"
    return "已通知代办人（毕业生没有绑定账号，未通知）。"


def _decide(proxy_id: int, action: str, decide, done: str, failed: str, graduate_too: bool = True):
    """Run one decision under a row lock, audit it, commit, then queue the pushes."""
    form = request.form
    refused = None
    with runtime().unit() as work:
        db = work.db
        proxy = db.get(Proxy, proxy_id, with_for_update={"of": Proxy})  # not the joined student row
        if proxy is None:
            abort(404)
        try:
            decision, detail = decide(db, proxy, form)
        except review.ReviewRefused as problem:
            work.rollback()  # and what it collected to tell anyone
            refused = str(problem)
            record(
                db, action, proxy.student_id, result="refused", detail=f"proxy:{proxy_id} {refused}"
            )
        else:
            record(db, action, proxy.student_id, detail=detail)
            work.effects.extend(
                Effect(push_text, asdict(push), key=str(i))
                for i, push in enumerate(decision.pushes)
            )
    if refused is not None:  # the refusal is audited (committed) before the page is drawn
        return _proxy_page(proxy_id, error=refused, form=form, failed=failed, status=400)
    flash(done + _told(decision, graduate_too))
    return redirect(url_for("console.proxies.detail", proxy_id=proxy_id), 303)


@bp.post("/proxies/<int(max=2147483647):proxy_id>/approve")
@requires(Permission.WORK_TICKETS)
def approve(proxy_id: int):
    """Accept the notarised authorisation (note required, scope at least one); both sides are told."""

    def decide(db, proxy, form):
        decision = review.approve(
            db,
            proxy,
            g.staff,
            form.get("note", ""),
            form.getlist("scope"),
            runtime().book,
            runtime().domain.clock(),
        )
        return decision, f"proxy:{proxy.id} approved scope={proxy.scope}"

    return _decide(proxy_id, "proxy_review", decide, "已通过，代办已生效。", "approve")


@bp.post("/proxies/<int(max=2147483647):proxy_id>/refuse")
@requires(Permission.WORK_TICKETS)
def refuse(proxy_id: int):
    """Refuse the authorisation (note required, sent to the proxy)."""

    def decide(db, proxy, form):
        decision = review.refuse(
            db, proxy, g.staff, form.get("note", ""), runtime().book, runtime().domain.clock()
        )
        return decision, f"proxy:{proxy.id} refused"

    return _decide(proxy_id, "proxy_review", decide, "已设为不通过。", "refuse", graduate_too=False)


@bp.post("/proxies/<int(max=2147483647):proxy_id>/revoke")
@requires(Permission.WORK_TICKETS)
def revoke(proxy_id: int):
    """End an active proxy at once (note required, sent to both sides)."""

    def decide(db, proxy, form):
        decision = review.revoke(
            db, proxy, form.get("note", ""), runtime().book, runtime().domain.clock()
        )
        return decision, review.revoke_detail(proxy, review.checked_note(form.get("note", "")))

    return _decide(proxy_id, "proxy_revoke", decide, "已撤销代办。", "revoke")
