"""Login and logout of mini-program users, and the phone number their channel proves.

POST /session exchanges a `wx.login()` code (WeChat) or an `my.getAuthCode` code (Alipay) for
our own opaque token; the channel's session_key and access tokens never leave the server.
POST /session/phone remembers, for a few minutes, the blind index of a phone number the channel
proved: where it equals the registrar's phone of the student, it replaces the SMS code.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

from bot.binding.rules import active_binding
from bot.core.messages import Inbound, MessageKind
from bot.platform.idcard import mask_phone
from handlers.channels import alipay_api, wxa_api
from handlers.channels.errors import ChannelRefused, ChannelUnavailable
from handlers.miniapp.errors import ApiError, json_body, text_field
from handlers.miniapp.guard import (
    authenticated,
    current_session,
    idempotent,
    limited,
    runtime,
    services_for,
    sessions,
)

bp = Blueprint("api_session", __name__)
log = logging.getLogger(__name__)
CHANNELS = ("wxa", "alipay")


@bp.post("/session")
@limited("login", per_address=(30, 60))
def login():
    """A code from the mini-program in, our session token out."""
    data = json_body()
    channel = text_field(data, "channel", max_length=8)
    code = text_field(data, "code", max_length=256)
    if channel not in CHANNELS:
        raise ApiError(400, "bad_field", "channel 应为 wxa 或 alipay。")
    app_id, user_key = _exchange(channel, code)
    rt = runtime()
    with rt.unit(Inbound(channel, app_id, user_key, "login", MessageKind.OTHER)) as s:
        bound = active_binding(s.db, s.account) is not None
        s.audit("miniapp_login", detail=channel)
        account_id = s.account.id
    token = sessions().create(account_id, channel, app_id, user_key)
    ttl = int(current_app.config["MINIAPP_SESSION_TTL"])
    return jsonify(
        token=token, token_type="Bearer", expires_in=ttl, channel=channel, bound=bound
    ), 201


@bp.get("/session")
@authenticated
@limited("session")
def show():
    """Who is logged in: channel, binding, a proven phone."""
    session = current_session()
    with services_for(session) as s:
        bound = active_binding(s.db, s.account) is not None
    return jsonify(
        channel=session.channel,
        bound=bound,
        phone_masked=session.phone_masked if session.proven_phone_index else None,
    )


@bp.delete("/session")
@authenticated
def logout():
    """Revoke the token now."""
    sessions().revoke(current_session())
    return "", 204


@bp.post("/session/phone")
@authenticated
@idempotent
@limited("phone", per_session=(10, 3600), per_address=(60, 3600))
def prove_phone():
    """WeChat: `{"code"}` from getPhoneNumber; Alipay: `{"response"}`, the string my.getPhoneNumber
    returned (signed and encrypted). Answers the masked number and how long it stands as proof."""
    session = current_session()
    data = json_body()
    rt = runtime()
    try:
        if session.channel == "wxa":
            phone = wxa_api.phone_number(rt.wxa_client(), text_field(data, "code", max_length=256))
        else:
            answer = text_field(data, "response", max_length=4096)
            phone = alipay_api.phone_number(_alipay(), current_app.config["ALIPAY_AES_KEY"], answer)
    except ChannelRefused as exc:
        log.info("phone proof refused: %s", exc)
        raise ApiError(
            422, "phone_not_proven", "无法确认这个手机号，请重新授权，或用短信验证码。"
        ) from None
    except ChannelUnavailable as exc:
        log.warning("phone proof unavailable: %s", exc)
        raise ApiError(
            502, "channel_unavailable", "暂时无法获取手机号，请稍后再试，或用短信验证码。"
        ) from None
    masked = mask_phone(phone)
    seconds = sessions().remember_phone(session, rt.domain.cipher.index("phone", phone), masked)
    if not seconds:  # the session ended while the channel answered (logout, 删除我的信息, expiry)
        raise ApiError(401, "unauthorized", "请先登录（登录已过期或无效）。")
    return jsonify(phone_masked=masked, valid_for=seconds)


def _exchange(channel: str, code: str) -> tuple[str, str]:
    """(app id, openid or Alipay user id) for a login code."""
    cfg, rt = current_app.config, runtime()
    try:
        if channel == "wxa":
            if not cfg.get("WXA_APP_ID") or not cfg.get("WXA_APP_SECRET"):
                raise _channel_off()
            return cfg["WXA_APP_ID"], wxa_api.login(rt.wxa_client(), code)
        return cfg["ALIPAY_APP_ID"], alipay_api.login(_alipay(), code)
    except ChannelRefused as exc:
        log.info("%s login refused: %s", channel, exc)
        raise ApiError(401, "login_refused", "登录凭证无效或已过期，请重新进入小程序。") from None
    except ChannelUnavailable as exc:
        log.warning("%s login unavailable: %s", channel, exc)
        raise ApiError(502, "channel_unavailable", "暂时无法登录，请稍后再试。") from None


def _alipay():
    client = runtime().alipay_client()
    if client is None:
        raise _channel_off()
    return client


def _channel_off() -> ApiError:
    return ApiError(503, "channel_off", "这个渠道还没有开通。")
