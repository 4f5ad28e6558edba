"""SMS verification codes and notices: the providers that send them (console outbox, Tencent Cloud
SMS). A notice is one of NOTICES, sent with its own approved template and parameters only: a ticket
notice names the ticket number, the auditors' notice a week and a count, never personal data.

Personal data stays out of errors: an SmsError names the provider's error code or the HTTP status,
never the phone number or the code.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests

DEFAULT_SIGN = "示范职业技术学院"
_write_lock = threading.Lock()  # threads of this process; flock below covers other processes


class SmsError(Exception):
    """A provider could not send; the message holds only an error code or HTTP status."""


class SmsProvider(Protocol):
    def send_code(self, phone: str, code: str, minutes: int, for_proxy: bool = False) -> None:
        """Send `code`, valid for `minutes`, to `phone` (with `for_proxy`, the text that says
        someone asked to act for the graduate); raises SmsError on failure."""

    def send_notice(self, phone: str, notice: str, params: list[str]) -> None:
        """Send the notice `notice` (a key of NOTICES) with `params`; raises SmsError on failure."""


# notice -> its text as the approved template renders it ({0}, {1}: the parameters), and the
# setting that holds its Tencent template id
NOTICES = {
    "ticket_changed": "你的申请 {0} 有新进展，请到公众号或小程序查看，回复4可查进度。",
    "anomaly_report": "{0}的工作人员操作异常周报已生成（{1} 项需关注），请登录学历异议处理台查看。",
}
NOTICE_TEMPLATES = {
    "ticket_changed": "SMS_NOTICE_TEMPLATE_ID",
    "anomaly_report": "SMS_REPORT_TEMPLATE_ID",
}


def mask_phone(phone: str) -> str:
    """`13812345678` -> `138****5678`; anything shorter than 8 characters is fully masked."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "*" * len(phone)


def sms_text(sign: str, code: str, minutes: int, for_proxy: bool = False) -> str:
    """The text of a verification SMS, as the approved template renders it: the graduate's own
    code, or the code of someone's request to act for the graduate."""
    if for_proxy:
        return (
            f"【{sign}】有人申请代你办理毕业证书查询，验证码 {code}，{minutes}分钟内有效。"
            "只在你同意家人代办时才告诉对方；陌生人索要，请勿告诉。"
        )
    return f"【{sign}】验证码 {code}，{minutes}分钟内有效。请勿告诉他人。"


class ConsoleProvider:
    """Appends each SMS as one JSON line to an outbox file (development, demos, tests)."""

    def __init__(self, outbox: str | Path, sign: str = DEFAULT_SIGN) -> None:
        self.outbox = Path(outbox)
        self.sign = sign

    def send_code(self, phone: str, code: str, minutes: int, for_proxy: bool = False) -> None:
        """Write one line: at, phone, phone_masked, code, text."""
        self._write(phone, {"code": code, "text": sms_text(self.sign, code, minutes, for_proxy)})

    def send_notice(self, phone: str, notice: str, params: list[str]) -> None:
        """Write one line: at, phone, phone_masked, notice, params, text."""
        text = f"【{self.sign}】" + NOTICES[notice].format(*params)
        self._write(phone, {"notice": notice, "params": params, "text": text})

    def _write(self, phone: str, content: dict) -> None:
        record = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "phone": phone,
            "phone_masked": mask_phone(phone),
            **content,
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with _write_lock, self.outbox.open("ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # other processes (web and worker) write here too
            try:
                f.write(line)
                f.flush()
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def tc3_authorization(
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    headers: Mapping[str, str],
    payload: bytes,
) -> str:
    """The TC3-HMAC-SHA256 Authorization header of a POST / with these signed headers and body."""
    signed = {k.strip().lower(): v.strip().lower() for k, v in headers.items()}
    names = sorted(signed)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        ]
    )
    key = ("TC3" + secret_key).encode("utf-8")
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )


def _safe_code(value: object) -> str:
    """A provider error code reduced to identifier characters, so it cannot carry personal data."""
    return re.sub(r"[^A-Za-z0-9._]", "", str(value))[:80] or "unknown"


class TencentProvider:
    """Tencent Cloud SMS, API 2021-01-11 SendSms, signed with TC3-HMAC-SHA256."""

    CONTENT_TYPE = "application/json; charset=utf-8"

    def __init__(
        self,
        api_base: str,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        template_id: str,
        proxy_template_id: str = "",
        region: str = "ap-guangzhou",
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        notice_templates: Mapping[str, str] | None = None,
    ) -> None:
        self.url = api_base.rstrip("/") + "/"
        self.host = urlsplit(api_base).netloc
        self.secret_id, self.secret_key = secret_id, secret_key
        self.sdk_app_id, self.sign_name, self.template_id = sdk_app_id, sign_name, template_id
        self.proxy_template_id = proxy_template_id
        self.region, self.timeout, self.clock = region, timeout, clock
        self.notice_templates = {k: v for k, v in (notice_templates or {}).items() if v}

    def send_code(self, phone: str, code: str, minutes: int, for_proxy: bool = False) -> None:
        """Send through SendSms; SmsError unless the status of the one number is `Ok`. A proxy's
        code needs its own approved template: without one it is not sent (the graduate's own
        code text would not say that someone else is asking)."""
        template_id = self.proxy_template_id if for_proxy else self.template_id
        if not template_id:
            raise SmsError("tencent sms: no proxy template (SMS_PROXY_TEMPLATE_ID)")
        self._send(phone, template_id, [code, str(minutes)])

    def send_notice(self, phone: str, notice: str, params: list[str]) -> None:
        """Send a notice with its own approved template (SmsError when none is configured)."""
        template_id = self.notice_templates.get(notice)
        if not template_id:
            raise SmsError(f"tencent sms: no template for {_safe_code(notice)}")
        self._send(phone, template_id, params)

    def _send(self, phone: str, template_id: str, params: list[str]) -> None:
        body = json.dumps(
            {
                "PhoneNumberSet": [f"+86{phone}"],
                "SmsSdkAppId": self.sdk_app_id,
                "SignName": self.sign_name,
                "TemplateId": template_id,
                "TemplateParamSet": params,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        timestamp = int(self.clock())
        signed = {"Content-Type": self.CONTENT_TYPE, "Host": self.host, "X-TC-Action": "SendSms"}
        headers = {
            **signed,
            "Authorization": tc3_authorization(
                self.secret_id, self.secret_key, "sms", timestamp, signed, body
            ),
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": "2021-01-11",
            "X-TC-Region": self.region,
        }
        try:
            res = requests.post(self.url, data=body, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise SmsError("tencent sms: timeout") from None
        except requests.RequestException as exc:
            raise SmsError(f"tencent sms: {type(exc).__name__}") from None
        if res.status_code != 200:
            raise SmsError(f"tencent sms: HTTP {res.status_code}")
        try:
            response = res.json()["Response"]
        except (ValueError, KeyError, TypeError):
            raise SmsError("tencent sms: unreadable response") from None
        if not isinstance(response, dict):
            raise SmsError("tencent sms: unreadable response")
        if "Error" in response:
            error = response["Error"]
            code = error.get("Code") if isinstance(error, dict) else None
            raise SmsError(f"tencent sms: {_safe_code(code)}")
        statuses = response.get("SendStatusSet") or [{}]
        status_code = statuses[0].get("Code") if isinstance(statuses[0], dict) else None
        if status_code != "Ok":
            raise SmsError(f"tencent sms: {_safe_code(status_code)}")


def make_provider(config: Mapping[str, object]) -> SmsProvider:
    """The provider named by SMS_PROVIDER (`console` or `tencent`), built from the settings."""
    name = config.get("SMS_PROVIDER")
    if name == "console":
        return ConsoleProvider(
            str(config["SMS_OUTBOX"]), str(config.get("GRADCERT_SCHOOL_NAME") or DEFAULT_SIGN)
        )
    if name == "tencent":
        return TencentProvider(
            str(config["SMS_API_BASE"]),
            str(config["SMS_SECRET_ID"]),
            str(config["SMS_SECRET_KEY"]),
            str(config["SMS_SDK_APP_ID"]),
            str(config["SMS_SIGN_NAME"]),
            str(config["SMS_TEMPLATE_ID"]),
            proxy_template_id=str(config.get("SMS_PROXY_TEMPLATE_ID") or ""),
            notice_templates={
                notice: str(config.get(setting) or "")
                for notice, setting in NOTICE_TEMPLATES.items()
            },
        )
    raise ValueError(f"SMS_PROVIDER must be 'console' or 'tencent', not {name!r}")
