"""Calls to Alipay's OpenAPI gateway through python-alipay-sdk 3.4: login
(`alipay.system.oauth.token`), the encrypted `my.getPhoneNumber` answer, template messages about
appeals (`alipay.open.app.mini.templatemessage.send`) and the verification of gateway
notifications. The SDK's traps are handled here: its gateway is fixed (we set ALIPAY_GATEWAY),
its request timestamps use the process's local time (we always send Beijing time), `verify`
mutates its dict and wants `sign` popped first, and it has no AES at all."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import textwrap
from datetime import datetime

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from redis import Redis

from bot.appeals.notices import AppealNotice
from bot.core import keys
from bot.core.messages import user_tag
from bot.platform.workdays import SHANGHAI
from handlers.channels.errors import ChannelRefused, ChannelUnavailable

log = logging.getLogger(__name__)

FORM_ID_TTL = 7 * 86400  # a form id may carry messages for 7 days
FORM_ID_USES = 3  # and at most 3 of them


def pem(key: str, kind: str) -> str:
    """A key as PEM: Alipay's key tool prints bare base64 (`kind` is "PRIVATE" or "PUBLIC")."""
    key = (key or "").strip()
    if key.startswith("-----BEGIN"):
        return key
    body = "\n".join(textwrap.wrap(re.sub(r"\s+", "", key), 64))
    return f"-----BEGIN {kind} KEY-----\n{body}\n-----END {kind} KEY-----\n"


class GatewayAliPay(AliPay):
    """The SDK's client with a configurable gateway and Beijing-time request timestamps."""

    def __init__(
        self, app_id: str, private_key: str, public_key: str, gateway: str, timeout: float = 5.0
    ) -> None:
        super().__init__(
            appid=app_id,
            app_private_key_string=pem(private_key, "PRIVATE"),
            alipay_public_key_string=pem(public_key, "PUBLIC"),
            sign_type="RSA2",
            config=AliPayConfig(timeout=timeout),
        )
        self._gateway = gateway

    def build_body(self, method, biz_content=None, **kwargs):  # noqa: D102 - the SDK's hook
        data = super().build_body(method, biz_content, **kwargs)
        data["timestamp"] = datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        return data

    def call(self, method: str, biz_content: dict | None = None, **params) -> dict:
        """`server_api`, with the SDK's failures sorted into refused and unavailable."""
        try:
            answer = self.server_api(method, biz_content, **params)
        except AliPayException as exc:  # an error_response, signed or not
            log.warning("alipay %s refused: %s", method, _error_code(exc))
            raise ChannelRefused(f"{method}: {_error_code(exc)}") from None
        except AliPayValidationError:
            raise ChannelUnavailable(f"{method}: the answer's signature is not Alipay's") from None
        except (
            OSError,
            ValueError,
            AttributeError,
            KeyError,
            TypeError,
        ) as exc:  # network, JSON, shape
            raise ChannelUnavailable(f"{method}: {type(exc).__name__}") from None
        if not isinstance(answer, dict):
            raise ChannelUnavailable(f"{method}: unreadable answer")
        if answer.get("code", "10000") != "10000":  # a signed business failure
            raise ChannelRefused(f"{method}: {answer.get('sub_code') or answer.get('code')}")
        return answer

    def verify_quoted(self, content: str, sign: str) -> bool:
        """RSA2 over `"content"`, as Alipay signs an encrypted answer."""
        try:
            return self._verify(f'"{content}"', sign)
        except (ValueError, TypeError, binascii.Error):
            return False


def _error_code(exc: AliPayException) -> str:
    match = re.search(r'"sub_code"\s*:\s*"([A-Za-z0-9._-]{1,64})"', str(exc))
    return match.group(1) if match else "error_response"


def login(client: GatewayAliPay, auth_code: str) -> str:
    """The user id (or, for newer apps, the open id) behind an `my.getAuthCode` code."""
    answer = client.call(
        "alipay.system.oauth.token", grant_type="authorization_code", code=auth_code
    )
    user = answer.get("user_id") or answer.get("open_id")
    if not user:
        raise ChannelUnavailable("oauth.token answered without a user")
    return str(user)  # access and refresh tokens are dropped here


def phone_number(client: GatewayAliPay, aes_key: str, answer: str | dict) -> str:
    """The mobile number in `my.getPhoneNumber`'s answer: signature first, then AES-CBC."""
    fields = (
        _json_object(answer, "getPhoneNumber answer") if isinstance(answer, str) else dict(answer)
    )
    content, sign = fields.get("response"), fields.get("sign")
    if (
        not isinstance(content, str)
        or not isinstance(sign, str)
        or fields.get("sign_type", "RSA2") != "RSA2"
    ):
        raise ChannelRefused("getPhoneNumber answer is incomplete")
    if not client.verify_quoted(content, sign):
        raise ChannelRefused("getPhoneNumber answer is not signed by Alipay")
    plain = _json_object(decrypt(aes_key, content), "getPhoneNumber plain text")
    number = str(plain.get("mobile") or "")
    if plain.get("code") != "10000" or not re.fullmatch(r"1[3-9]\d{9}", number):
        raise ChannelRefused("getPhoneNumber answer holds no mainland mobile number")
    return number


def _json_object(text: str, what: str) -> dict:
    """`text` parsed as a JSON object; ChannelRefused for anything else (an array, a number...)."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ChannelRefused(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ChannelRefused(f"{what} is not a JSON object")
    return value


def decrypt(aes_key: str, content: str) -> str:
    """AES-CBC with a zero IV and PKCS#7 padding, the key and content in base64."""
    try:
        key, data = base64.b64decode(aes_key), base64.b64decode(content)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(b"\0" * 16)).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode()
    except (ValueError, binascii.Error):
        raise ChannelRefused("getPhoneNumber answer does not decrypt") from None


def verify_notification(client: GatewayAliPay, form: dict[str, str]) -> dict[str, str] | None:
    """The notification's fields without `sign`/`sign_type` when Alipay signed them (RSA2)."""
    fields = dict(form)
    sign, sign_type = fields.pop("sign", None), fields.pop("sign_type", None)
    if not sign or sign_type != "RSA2":
        return None
    try:
        ok = client.verify(dict(fields), sign)  # the SDK mutates what it gets: a copy
    except (AliPayException, ValueError, TypeError, binascii.Error):
        return None
    return fields if ok else None


# -- template messages about appeals -----------------------------------------------------------
def remember_form_id(redis: Redis, tag: str, appeal_id: int, form_id: str) -> None:
    """Keep a form id the user's submission gave us, to carry later messages about that appeal."""
    key = keys.form_id(tag, appeal_id)
    redis.hset(key, mapping={"form_id": form_id, "uses": 0})
    redis.expire(key, FORM_ID_TTL)


def take_form_id(redis: Redis, tag: str, appeal_id: int) -> str | None:
    """A form id with a use left, counting this use."""
    key = keys.form_id(tag, appeal_id)
    form_id = redis.hget(key, "form_id")
    if form_id is None or redis.hincrby(key, "uses", 1) > FORM_ID_USES:
        return None
    return form_id.decode()


def send_appeal_notice(
    client: GatewayAliPay,
    user_id: str,
    form_id: str,
    template_id: str,
    page: str,
    notice: AppealNotice,
) -> None:
    """One template message about an appeal (keyword1..4: ticket, status, note, time)."""
    data = {
        "keyword1": {"value": notice.ticket_no},
        "keyword2": {"value": notice.status_name},
        "keyword3": {"value": notice.summary(40)},
        "keyword4": {"value": notice.changed_at_text},
    }
    client.call(
        "alipay.open.app.mini.templatemessage.send",
        {
            "to_user_id": user_id,
            "form_id": form_id,
            "user_template_id": template_id,
            "page": f"{page}?ticket={notice.ticket_no}",
            "data": json.dumps(data, ensure_ascii=False),
        },
    )


class AlipayChannel:
    """The Alipay mini-program as one object: its gateway client, and pushes, which it only has as
    template messages about appeals (each carried by a form id of the user's own submission)."""

    name = "alipay"

    def __init__(self, config: dict, redis: Redis) -> None:
        self.config, self.redis, self._client = config, redis, None

    def client(self) -> GatewayAliPay | None:
        """The gateway client, or None while the Alipay channel is not configured."""
        cfg = self.config
        if (
            self._client is None
            and cfg.get("ALIPAY_APP_ID")
            and cfg.get("ALIPAY_APP_PRIVATE_KEY")
            and cfg.get("ALIPAY_PUBLIC_KEY")
        ):
            try:
                self._client = GatewayAliPay(
                    cfg["ALIPAY_APP_ID"],
                    cfg["ALIPAY_APP_PRIVATE_KEY"],
                    cfg["ALIPAY_PUBLIC_KEY"],
                    cfg["ALIPAY_GATEWAY"],
                )
            except (ValueError, IndexError, TypeError):
                log.error(
                    "ALIPAY_APP_PRIVATE_KEY or ALIPAY_PUBLIC_KEY is not an RSA key: the alipay channel is off"
                )
        return self._client

    def push(
        self, app_id: str, user_key: str, replies: list, notice: AppealNotice | None = None
    ) -> bool:
        """The appeal `notice` as a template message while a form id of that appeal has uses left;
        True only when it was sent."""
        template = self.config.get("ALIPAY_TEMPLATE_APPEAL")
        if notice is None:
            log.info("%d replies for an alipay user wait for the app to fetch them", len(replies))
            return False
        if not template or self.client() is None:
            return False
        form_id = take_form_id(self.redis, user_tag(self.name, app_id, user_key), notice.appeal_id)
        if form_id is None:
            log.info("no form id left to tell an alipay user about %s", notice.ticket_no)
            return False
        send_appeal_notice(
            self.client(), user_key, form_id, template, self.config["MINIAPP_APPEAL_PAGE"], notice
        )
        return True
