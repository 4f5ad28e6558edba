"""Proxies (代办) through the API: whom I act for, my request in progress and who acts for me;
the notarised authorisation (number and photo) of a request; ending a proxy.

A request starts in the conversation (`POST /chat` "5"), as on the Official Account, since the
graduate's consent is a conversation of its own; its document step can be finished here, because
/chat takes no photos. `?acting_for=<proxy id>` on the diploma, certificate and appeal endpoints
acts for that graduate within the proxy's scope: audited with the proxy as actor and the graduate
as subject, and the graduate is told of each view, certificate action and filing, as in the chat
(bot/proxies/rules.py decides both).
"""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from bot.appeals.intake import add_photo
from bot.binding.rules import active_binding
from bot.core.replies import Refused
from bot.platform import idcard
from bot.proxies import rules as proxies
from handlers.miniapp.errors import ApiError, bad_request, photo_uploads, text_field
from handlers.miniapp.guard import (
    authenticated,
    current_session,
    idempotent,
    limited,
    runtime,
    services_for,
    user_lock,
)
from handlers.miniapp.present import refusal, when
from models import AttachmentState, Proxy, ProxyState, Scope

bp = Blueprint("api_proxies", __name__)
MAX_DOCUMENT_PHOTOS = 3
MAX_ID = 2**31 - 1


def acting_proxy(s, scope: Scope) -> Proxy | None:
    """The proxy `?acting_for=` names, active and covering `scope`; None without the parameter."""
    raw = request.args.get("acting_for")
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,10}", raw):
        raise bad_request("acting_for 应为代办编号（整数）。", "bad_field")
    named = s.db.get(Proxy, int(raw)) if int(raw) <= MAX_ID else None
    if named is None or named.proxy_account_id != s.account.id:
        raise ApiError(404, "proxy_not_found", "没有这个代办。")
    try:
        proxy = proxies.active_proxy(s.db, s.account.id, named.student_id, scope, s.now())
    except proxies.ProxyNotAllowed as refused:  # ended, or out of scope: as the chat says it
        raise refusal(Refused("proxy_not_allowed", f"proxy/{refused.reason}"), 403) from None
    if proxy.id != named.id:  # an older one of the same graduate, ended since
        raise refusal(Refused("proxy_not_allowed", "proxy/ended"), 403)
    return proxy


def acting_json(proxy: Proxy | None) -> dict | None:
    """For whom a response was made ("代 张** 办理"), or None for oneself."""
    return _acting_json(proxy) if proxy is not None else None


@bp.get("/proxies")
@authenticated
@limited("proxies")
def overview():
    """Whom I act for, my request in progress, and who acts (or asked to act) for me."""
    with services_for(current_session()) as s:
        acting = proxies.actives_of(s.db, s.account.id, s.now())
        pending = proxies.pending_of(s.db, s.account.id)
        own = active_binding(s.db, s.account)
        for_me = proxies.of_graduate(s.db, own.student_id) if own is not None else []
        return jsonify(
            acting=[_acting_json(p) for p in acting],
            request=_request_json(pending) if pending is not None else None,
            for_me=[_for_me_json(p) for p in for_me],
        )


@bp.post("/proxies/<int(max=2147483647):proxy_id>/document")
@authenticated
@idempotent
@limited("proxy_document", per_session=(10, 3600), per_address=(100, 3600))
def document(proxy_id: int):
    """The notarised authorisation of my request: its number and 1-3 photos; then staff review.
    Whose request it is, and whether it waits for a document, is checked before anything sent is
    read: someone else's request is a 404 whatever the upload holds."""
    session = current_session()
    with user_lock(session), services_for(session) as s:
        proxy = proxies.locked(s.db, proxy_id)
        if proxy is None or proxy.proxy_account_id != s.account.id:
            raise ApiError(404, "proxy_not_found", "没有这个代办申请。")
        if proxy.state != ProxyState.AWAITING_DOCUMENT:
            raise ApiError(
                409,
                "proxy_not_awaiting_document",
                "这个申请现在不需要公证书（还在等毕业生同意，或已提交、已结束）。",
                state=proxy.state,
            )
        form = request.form
        number = proxies.document_number(text_field(form, "notarised_no", max_length=80) or "")
        if number is None:
            raise refusal(Refused("bad_document_no", "proxy/bad_document_no"), 400)
        photos = photo_uploads("photos", MAX_DOCUMENT_PHOTOS)
        if not photos:
            raise bad_request("请上传公证委托书的照片（photos）。", "photos_required")
        kept = [add_photo(s, None, data, proxy=proxy) for data in photos]
        if not any(a.state == AttachmentState.STORED for a in kept):  # staff could not review it
            raise ApiError(
                503, "storage_unavailable", "照片暂时保存不了，请稍后再上传一次。", retry_after=60
            )
        proxies.document_submitted(proxy, number)
        s.audit(
            "proxy_document", proxy.student_id, detail=f"proxy:{proxy.id} via {session.channel}"
        )
        return jsonify(_request_json(proxy))


@bp.delete("/proxies/<int(max=2147483647):proxy_id>")
@authenticated
@limited("proxy_end", per_session=(20, 3600))
def end(proxy_id: int):
    """End a proxy: the graduate revokes one acting for them, or the proxy withdraws their own."""
    session = current_session()
    with user_lock(session), services_for(session) as s:
        proxy = proxies.locked(s.db, proxy_id)
        own = active_binding(s.db, s.account)
        is_graduate = proxy is not None and own is not None and own.student_id == proxy.student_id
        if proxy is None or not (is_graduate or proxy.proxy_account_id == s.account.id):
            raise ApiError(404, "proxy_not_found", "没有这个代办。")
        if proxy.state not in proxies.LIVE:
            raise ApiError(409, "proxy_ended", "这个代办已经结束了。", state=proxy.state)
        if is_graduate:
            effects = [proxies.revoked_by_graduate(s, runtime().book, proxy)]
        else:
            proxies.revoke(proxy, "proxy", s.now())
            s.audit(
                "proxy_revoke", proxy.student_id, detail=f"proxy:{proxy.id} withdrawn by the proxy"
            )
            effects = []
        s.effects.extend(effects)
    return jsonify(id=proxy_id, state=ProxyState.REVOKED)


# -- shapes ---------------------------------------------------------------------------------------
def _scopes(proxy: Proxy) -> list[str]:
    return [scope for scope in proxy.scope.split(",") if scope]


def _acting_json(proxy: Proxy) -> dict:
    return {
        "id": proxy.id,
        "name_masked": idcard.mask_name(proxy.student.name),
        **_relation(proxy),
        "graduate_as": proxies.GRADUATE_AS[proxy.relation],
        "scopes": _scopes(proxy),
        "valid_until": when(proxy.valid_until),
    }


def _request_json(proxy: Proxy) -> dict:
    return {
        "id": proxy.id,
        "name_masked": idcard.mask_name(proxy.student.name),
        **_relation(proxy),
        "state": proxy.state,
        "created_at": when(proxy.created_at),
    }


def _for_me_json(proxy: Proxy) -> dict:
    return {
        "id": proxy.id,
        **_relation(proxy),
        "state": proxy.state,
        "scopes": _scopes(proxy),
        "valid_until": when(proxy.valid_until),
    }


def _relation(proxy: Proxy) -> dict:
    return {"relation": proxy.relation, "relation_label": proxies.RELATION_NAMES[proxy.relation]}
