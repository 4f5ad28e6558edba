"""The Official Account callback at /wechat: plain, compatible and safe (AES) mode.

A view checks size, signature, timestamp and nonce, parses the XML into `Inbound`, asks the engine
and renders the passive reply. Whatever goes wrong after the signature checks, WeChat gets a 200:
the busy text when Redis is unreachable, `success` (no reply) otherwise; never a 500.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time

from flask import Blueprint, Response, abort, current_app, request
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from bot.core.errors import BadPayload, InvalidSignature, ServiceUnavailable
from bot.core.messages import Inbound, Reply
from bot.platform.replay import check_nonce, replay_check
from handlers.channels.wechat_codec import (
    SafeMode,
    parse_xml,
    render_reply,
    split_passive,
    to_inbound,
    verify_signature,
    verify_timestamp,
)
from handlers.config import MAX_BODY
from handlers.current import runtime

bp = Blueprint("wechat", __name__)
log = logging.getLogger(__name__)


def _safe_mode() -> SafeMode | None:
    cfg = current_app.config
    if not cfg.get("WECHAT_ENCODING_AES_KEY"):
        return None
    return _safe(cfg["WECHAT_TOKEN"], cfg["WECHAT_ENCODING_AES_KEY"], cfg["WECHAT_APP_ID"])


@functools.lru_cache(maxsize=8)
def _safe(token: str, aes_key: str, app_id: str) -> SafeMode:
    return SafeMode(token, aes_key, app_id)


def addressed_to_us(to_user_name: str) -> bool:
    """Whether a message's ToUserName is our account's original id (WECHAT_ORIGINAL_ID, gh_…);
    any account is accepted while the setting is empty."""
    expected = current_app.config.get("WECHAT_ORIGINAL_ID") or ""
    return not expected or hmac.compare_digest(to_user_name.encode(), expected.encode())


def _check_query() -> tuple[str, str]:
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    try:
        verify_signature(
            current_app.config["WECHAT_TOKEN"], args.get("signature", ""), timestamp, nonce
        )
        verify_timestamp(timestamp)
    except InvalidSignature as exc:
        log.warning("wechat callback refused: %s", exc)
        abort(403)
    return timestamp, nonce


@bp.get("/wechat")
def verify_url():
    """WeChat's server-URL check: echo `echostr` when the signature is ours."""
    timestamp, nonce = _check_query()
    try:  # the signed parameters of a URL check must not be reusable for a POST
        check_nonce(runtime().redis, "wx", timestamp, nonce, b"GET")
    except InvalidSignature:
        abort(403)
    except RedisError:
        log.warning("nonce of a URL check not recorded: Redis unreachable")
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/wechat")
def callback():
    """One message or event from a user."""
    received_at = time.time()
    if (request.content_length or 0) > MAX_BODY:
        abort(413)
    timestamp, nonce = _check_query()
    body = request.get_data(cache=False)
    safe = _safe_mode()
    if safe is not None and request.args.get("encrypt_type", "raw").lower() != "aes":
        log.warning(
            "wechat callback refused: plain message while safe/compatible mode is configured"
        )
        # with an AES key, only sealed messages: a plain body is not covered by the signature
        abort(403)
    try:
        fields = parse_xml(body)
        if safe is not None:
            fields = parse_xml(
                safe.open(fields, request.args.get("msg_signature", ""), timestamp, nonce)
            )
        msg = to_inbound(fields, current_app.config["WECHAT_APP_ID"], received_at)
    except InvalidSignature as exc:
        log.warning("wechat callback refused: %s", exc)
        abort(403)
    except BadPayload as exc:
        log.warning("wechat callback rejected: %s", exc)
        abort(400)
    account = fields.get("ToUserName", "")
    if not addressed_to_us(account):
        log.warning("wechat callback refused: addressed to another account")
        abort(403)
    rt = runtime()
    replay = replay_check("wx", timestamp, nonce, body)
    try:  # the nonce is checked in the engine's first round trip
        replies = rt.engine.handle(msg, replay)
    except InvalidSignature:
        log.warning("wechat callback refused: nonce replayed")
        abort(403)
    except (RedisError, ServiceUnavailable) as exc:  # nothing saved: the form stays where it was
        log.warning("busy text for %s: %s unavailable", msg.msg_id, type(exc).__name__)
        replies = [Reply(rt.book.render("system/busy"))]
    except Exception:  # database down, lock not free in time...: the user is told to try again
        log.exception("could not handle %s", msg.msg_id)
        replies = [Reply(rt.book.render("system/busy"))]
    return _respond(rt, msg, account, replies or [], safe, nonce)


def _respond(
    rt, msg: Inbound, account: str, replies: list[Reply], safe: SafeMode | None, nonce: str
):
    passive, rest = split_passive(replies)
    if rest:
        try:  # a retry gets the cached replies again: its follow-ups went out with the first delivery
            if rt.storage.claim_effect(msg.user_tag, msg.msg_id, "wechat_follow_ups"):
                rt.deliver_later(msg, rest)
        except RedisError:
            log.warning("could not queue %d follow-up replies", len(rest))
    if passive is None:
        return Response("success", mimetype="text/plain")
    xml = render_reply(passive, msg.user_key, account)
    if safe is not None:
        xml = safe.seal(xml, nonce, str(int(time.time())))
    return Response(xml, mimetype="application/xml")


@bp.errorhandler(Exception)
def never_500(exc: Exception):
    """WeChat shows users an error banner and retries on a 500: answer `success` instead."""
    if isinstance(exc, HTTPException):
        return exc
    log.exception("unexpected error in the WeChat callback")
    return Response("success", mimetype="text/plain")
