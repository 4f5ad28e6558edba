"""Sentry reports: off unless SENTRY_DSN; what is sent carries no personal data."""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.transport import Transport

from handlers import error_reports

ID_NUMBER, PHONE, OPENID = "11010519491231002X", "13800138000", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


class Captured(Transport):
    """A transport that keeps the events instead of sending them."""

    events: list = []

    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.headers.get("type") == "event":
                Captured.events.append(item.payload.json)


def test_mask_hides_id_numbers_phones_openids_and_long_numbers():
    text = f"bind {ID_NUMBER} / 110105491231002 phone {PHONE} user {OPENID} student 2017020118"
    masked = error_reports.mask(text)
    for secret in (ID_NUMBER, "110105491231002", PHONE, OPENID, "2017020118"):
        assert secret not in masked
    assert masked.startswith("bind [redacted]") and "phone [redacted]" in masked
    assert error_reports.mask("HTTP 502 after 3 tries") == "HTTP 502 after 3 tries"


def test_scrub_drops_request_data_users_and_locals():
    event = {
        "user": {"id": OPENID},
        "request": {
            "url": f"https://x/wechat?openid={OPENID}",
            "query_string": f"openid={OPENID}",
            "data": {"id_number": ID_NUMBER},
            "cookies": {"session": "s"},
            "headers": {"User-Agent": "ua", "Cookie": "s", "Authorization": "Bearer t"},
        },
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": f"no student {ID_NUMBER}",
                    "stacktrace": {"frames": [{"function": "f", "vars": {"phone": PHONE}}]},
                }
            ]
        },
        "logentry": {"message": "lookup %s", "params": [PHONE]},
        "breadcrumbs": {"values": [{"message": f"sent to {PHONE}"}]},
        "extra": {
            "who": OPENID,
            "rq-job": {
                "job_id": "j1",
                "func": "handlers.jobs.run_effect",
                "args": [{"account_ids": [7], "text": "李** 你好"}],
                "description": "run_effect(...)",
            },
        },
    }
    scrubbed = error_reports.scrub(event)
    assert "user" not in scrubbed
    assert scrubbed["request"] == {"url": "https://x/wechat", "headers": {"User-Agent": "ua"}}
    assert scrubbed["extra"]["rq-job"] == {"job_id": "j1", "func": "handlers.jobs.run_effect"}
    for secret in (ID_NUMBER, PHONE, OPENID, "李**"):
        assert secret not in repr(scrubbed)


def test_off_without_a_dsn_and_scrubbed_with_one():
    assert error_reports.init({"SENTRY_DSN": ""}) is False
    Captured.events.clear()
    try:
        assert error_reports.init(
            {"SENTRY_DSN": "https://public@sentry.example.invalid/1", "GRADCERT_ENV": "production"},
            transport=Captured,
            default_integrations=False,
        )
        try:
            phone = PHONE  # a local variable that must not travel
            raise ValueError(f"SMS to {phone} failed for {ID_NUMBER}")
        except ValueError:
            sentry_sdk.capture_exception()
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)
    [event] = Captured.events
    assert event["environment"] == "production"
    assert event["exception"]["values"][0]["value"] == "SMS to [redacted] failed for [redacted]"
    assert PHONE not in repr(event) and ID_NUMBER not in repr(event)
