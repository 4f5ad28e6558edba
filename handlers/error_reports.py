"""Optional error reports to Sentry (SENTRY_DSN; unset: nothing is sent and sentry-sdk is not
loaded). Nothing personal leaves the process: no request bodies, query strings, cookies or
headers (WeChat's query carries the openid), no local variables, no user; ID numbers, phone
numbers, openids and long digit runs in messages and exception values are masked (`before_send`).
"""

from __future__ import annotations

import re

# ID numbers (18 characters, or 15 digits), mobile numbers, WeChat/Alipay user ids, long digit runs
_PERSONAL = re.compile(
    r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15}|1[3-9]\d{9}|o[A-Za-z0-9_-]{27}|2088\d{12}|\d{7,})(?![0-9A-Za-z])"
)
_KEPT_HEADERS = {"User-Agent", "Content-Type", "Content-Length", "X-Request-Id", "X-Request-ID"}


def mask(text: str) -> str:
    """`text` with everything that may identify a person replaced by [redacted]."""
    return _PERSONAL.sub("[redacted]", text)


def _mask_all(value):
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    return value


def scrub(event: dict, _hint: dict | None = None) -> dict:
    """The event without personal data (Sentry's before_send)."""
    event.pop("user", None)
    request = event.get("request")
    if isinstance(request, dict):
        for part in ("data", "query_string", "cookies", "env"):
            request.pop(part, None)
        if "url" in request:
            request["url"] = str(request["url"]).split("?", 1)[0]
        headers = request.get("headers") or {}
        request["headers"] = {k: v for k, v in headers.items() if k in _KEPT_HEADERS}
    for exc in (event.get("exception") or {}).get("values") or []:
        if "value" in exc:
            exc["value"] = mask(str(exc["value"]))
        for frame in (exc.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    if "logentry" in event:
        event["logentry"] = _mask_all(event["logentry"])
    if "message" in event:
        event["message"] = _mask_all(event["message"])
    crumbs = event.get("breadcrumbs")
    if isinstance(crumbs, dict) and "values" in crumbs:
        crumbs["values"] = _mask_all(crumbs["values"])
    extra = dict(event.get("extra") or {})
    job = extra.pop("rq-job", None)  # sentry's RQ integration: its args may name accounts
    if isinstance(job, dict):
        extra["rq-job"] = {k: job.get(k) for k in ("job_id", "func") if k in job}
    event["extra"] = _mask_all(extra)
    return event


def init(config: dict, **options) -> bool:
    """Start reporting when SENTRY_DSN is set; True when it did."""
    dsn = str(config.get("SENTRY_DSN") or "")
    if not dsn:
        return False
    import sentry_sdk  # loaded only when reports are wanted

    sentry_sdk.init(
        dsn=dsn,
        environment=str(config.get("GRADCERT_ENV") or "development"),
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub,
        before_send_transaction=scrub,
        **options,
    )
    return True
