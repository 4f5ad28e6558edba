"""Calls to the WeChat mini-program API: login (`jscode2session` through wechatpy's WeChatWxa),
phone numbers (`wxa/business/getuserphonenumber`, which wechatpy 1.8 lacks) and subscribe
messages for appeal status changes. The access token is shared in Redis like the Official
Account's (SharedTokenClient). `session_key` never leaves this module."""

from __future__ import annotations

import logging
import re

import requests
from redis import Redis
from wechatpy.exceptions import WeChatClientException

from bot.appeals.notices import AppealNotice
from handlers.channels.errors import ChannelRefused, ChannelUnavailable
from handlers.channels.wechat_api import TOKEN_ERRORS, SharedTokenClient

log = logging.getLogger(__name__)

CODE_REFUSED = {
    40029,
    40163,
    40226,
    45011,
    40013,
}  # invalid/used code, risky user, rate limit, bad appid
USER_REFUSED = {43101}  # the user did not accept the subscribe message


def make_client(app_id: str, secret: str, redis: Redis, api_base: str) -> SharedTokenClient:
    """A client of the mini-program's own app id, with wechatpy's wxa API pointed at `api_base`."""
    client = SharedTokenClient(app_id, secret, redis=redis, api_base=api_base)
    client.wxa.API_BASE_URL = f"{client.api_base}/"
    return client


def login(client: SharedTokenClient, code: str) -> str:
    """The openid for a `wx.login()` code; the session_key is dropped here."""
    try:
        answer = client.wxa.code_to_session(code)
    except WeChatClientException as exc:
        if exc.errcode in CODE_REFUSED:
            raise ChannelRefused(f"jscode2session errcode {exc.errcode}") from None
        raise ChannelUnavailable(f"jscode2session errcode {exc.errcode}") from None
    except requests.RequestException as exc:
        raise ChannelUnavailable(f"jscode2session {type(exc).__name__}") from None
    openid = answer.get("openid") if isinstance(answer, dict) else None
    if not openid:
        raise ChannelUnavailable("jscode2session answered without an openid")
    return str(openid)


def phone_number(client: SharedTokenClient, code: str) -> str:
    """The mainland mobile number behind a `getPhoneNumber` code (one use)."""
    for attempt in (1, 2):
        try:
            res = requests.post(
                f"{client.api_base}/wxa/business/getuserphonenumber",
                params={"access_token": client.access_token},
                json={"code": code},
                timeout=client.timeout,
            )
            res.raise_for_status()
            data = res.json()
        except (requests.RequestException, ValueError) as exc:
            raise ChannelUnavailable(f"getuserphonenumber {type(exc).__name__}") from None
        errcode = int(data.get("errcode") or 0)
        if errcode in TOKEN_ERRORS and attempt == 1:
            client.redis.delete(client.token_key)
            continue
        if errcode in CODE_REFUSED:
            raise ChannelRefused(f"getuserphonenumber errcode {errcode}")
        if errcode:
            raise ChannelUnavailable(f"getuserphonenumber errcode {errcode}")
        return _mainland_number(data.get("phone_info") or {}, client.appid)
    raise ChannelUnavailable("access token refused twice")


def _mainland_number(info: dict, app_id: str) -> str:
    watermark = info.get("watermark") or {}
    if watermark.get("appid") != app_id:
        raise ChannelRefused("phone number issued to another app")
    number = str(info.get("purePhoneNumber") or "")
    if str(info.get("countryCode")) != "86" or not re.fullmatch(r"1[3-9]\d{9}", number):
        raise ChannelRefused("not a mainland mobile number")
    return number


def send_appeal_notice(
    client: SharedTokenClient, openid: str, template_id: str, page: str, notice: AppealNotice
) -> bool:
    """A subscribe message about an appeal; False when the user has not subscribed to it."""
    data = {
        "character_string1": {"value": notice.ticket_no},
        "phrase2": {"value": notice.status_name[:5]},
        "thing3": {"value": notice.summary(20)},
        "time4": {"value": notice.changed_at_text},
    }
    for attempt in (1, 2):
        try:
            client.wxa.send_subscribe_message(
                openid, template_id, data, page=f"{page}?ticket={notice.ticket_no}"
            )
            return True
        except WeChatClientException as exc:
            if exc.errcode in TOKEN_ERRORS and attempt == 1:
                client.redis.delete(client.token_key)
                continue
            if exc.errcode in USER_REFUSED:
                log.info("wxa user has not subscribed to appeal messages")
                return False
            raise
    return False


class MiniProgramChannel:
    """The WeChat mini-program as one object: its API client, and pushes, which it only has as
    subscribe messages about appeals; other replies wait for the app to fetch them
    (GET /api/v1/chat/<msg_id>)."""

    name = "wxa"

    def __init__(self, config: dict, redis: Redis) -> None:
        self.config, self.redis, self._client = config, redis, None

    def client(self) -> SharedTokenClient:
        """The API client of the mini-program's own app id, built on first use."""
        if self._client is None:
            cfg = self.config
            self._client = make_client(
                cfg["WXA_APP_ID"], cfg["WXA_APP_SECRET"], self.redis, cfg["WECHAT_API_BASE"]
            )
        return self._client

    def push(
        self, app_id: str, user_key: str, replies: list, notice: AppealNotice | None = None
    ) -> bool:
        """The appeal `notice` as a subscribe message, when the template is configured; True only
        when it was sent (not subscribed, no template or no notice: the person was not reached)."""
        template = self.config.get("WXA_TEMPLATE_APPEAL")
        if notice is None:
            log.info("%d replies for a wxa user wait for the app to fetch them", len(replies))
        elif template and self.config.get("WXA_APP_ID"):
            return send_appeal_notice(
                self.client(), user_key, template, self.config["MINIAPP_APPEAL_PAGE"], notice
            )
        return False
