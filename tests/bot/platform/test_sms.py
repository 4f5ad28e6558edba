"""SMS providers: the console outbox, and Tencent Cloud SendSms against a local stub that checks
the TC3-HMAC-SHA256 signature on its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime

import pytest

from bot.platform.sms import (
    ConsoleProvider,
    SmsError,
    TencentProvider,
    make_provider,
    mask_phone,
    tc3_authorization,
)
from tests.stubs import HttpStub

PHONE = "13812345678"
CODE = "654321"
SECRET_ID = "AKIDtestsecretid0000000000000000"
SECRET_KEY = "test-secret-key-0000000000000000"
NOW = 1551113065  # 2019-02-26 00:44:25 in UTC+8, still 2019-02-25 in UTC


# --- an independent TC3 verifier, written from Tencent's documentation, not from bot.platform.sms


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def verify_tc3(headers: dict, body: bytes, secret_id: str, secret_key: str, service: str) -> bool:
    """Recompute the signature of a received request (lower-case header names) and compare."""
    auth = headers.get("authorization", "")
    m = auth.removeprefix("TC3-HMAC-SHA256 ")
    if m == auth:
        return False
    fields = dict(part.split("=", 1) for part in m.split(", "))
    cred_id, date, cred_service, terminator = fields["Credential"].split("/")
    timestamp = headers["x-tc-timestamp"]
    if (cred_id, cred_service, terminator) != (secret_id, service, "tc3_request"):
        return False
    if date != datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d"):
        return False
    names = fields["SignedHeaders"].split(";")
    if names != sorted(names) or not {"content-type", "host"} <= set(names):
        return False
    canonical_headers = "".join(f"{n}:{headers[n].strip().lower()}\n" for n in names)
    canonical = (
        f"POST\n/\n\n{canonical_headers}\n{fields['SignedHeaders']}\n"
        f"{hashlib.sha256(body).hexdigest()}"
    )
    scope = f"{date}/{service}/tc3_request"
    hashed = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashed}"
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["Signature"])


# Tencent's worked example ("Signature v3", CVM DescribeInstances), as published in the API docs.
DOC_SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
DOC_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
DOC_PAYLOAD = (
    rb'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], '
    rb'"Name": "instance-name"}]}'
)
DOC_HEADERS = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
DOC_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
    "SignedHeaders=content-type;host, "
    "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
)


def test_tc3_matches_tencents_published_example():
    assert hashlib.sha256(DOC_PAYLOAD).hexdigest() == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    got = tc3_authorization(DOC_SECRET_ID, DOC_SECRET_KEY, "cvm", NOW, DOC_HEADERS, DOC_PAYLOAD)
    assert got == DOC_AUTHORIZATION


def test_the_stubs_verifier_matches_tencents_published_example():
    headers = {**DOC_HEADERS, "authorization": DOC_AUTHORIZATION, "x-tc-timestamp": str(NOW)}
    assert verify_tc3(headers, DOC_PAYLOAD, DOC_SECRET_ID, DOC_SECRET_KEY, "cvm")
    assert not verify_tc3(headers, DOC_PAYLOAD, DOC_SECRET_ID, DOC_SECRET_KEY + "x", "cvm")
    assert not verify_tc3(headers, DOC_PAYLOAD + b" ", DOC_SECRET_ID, DOC_SECRET_KEY, "cvm")


# --- console provider ---------------------------------------------------------------------------


def test_mask_phone():
    assert mask_phone(PHONE) == "138****5678"
    assert mask_phone("123") == "***"


def test_console_writes_one_json_line(tmp_path):
    outbox = tmp_path / "nested" / "outbox.jsonl"
    ConsoleProvider(outbox).send_code(PHONE, CODE, 5)
    lines = outbox.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    sms = json.loads(lines[0])
    assert sms["phone"] == PHONE and sms["phone_masked"] == "138****5678" and sms["code"] == CODE
    assert sms["text"] == f"【示范职业技术学院】验证码 {CODE}，5分钟内有效。请勿告诉他人。"
    assert datetime.fromisoformat(sms["at"]).utcoffset().total_seconds() == 0
    assert "【示范" in lines[0]  # ensure_ascii=False


def test_console_concurrent_writers_do_not_interleave(tmp_path):
    outbox = tmp_path / "outbox.jsonl"

    def writer(phone):
        provider = ConsoleProvider(outbox)  # separate instances, separate file handles
        for i in range(50):
            provider.send_code(phone, f"{i:06d}", 5)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("13800000001", "13900000002")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 100
    for phone in ("13800000001", "13900000002"):
        codes = [r["code"] for r in records if r["phone"] == phone]
        assert codes == [f"{i:06d}" for i in range(50)]


# --- Tencent provider against a stub ------------------------------------------------------------


def _ok(rec):
    phone = rec.json()["PhoneNumberSet"][0]
    return 200, {
        "Response": {
            "SendStatusSet": [
                {
                    "SerialNo": "2028:f825e6b16e23f73f4123",
                    "PhoneNumber": phone,
                    "Fee": 1,
                    "SessionContext": "",
                    "Code": "Ok",
                    "Message": "send success",
                    "IsoCode": "CN",
                }
            ],
            "RequestId": "req-1",
        }
    }


def _status(code):
    def route(rec):
        phone = rec.json()["PhoneNumberSet"][0]
        return 200, {
            "Response": {
                "SendStatusSet": [
                    {
                        "SerialNo": "",
                        "PhoneNumber": phone,
                        "Fee": 0,
                        "SessionContext": "",
                        "Code": code,
                        "Message": f"{phone} exceeded the daily limit",
                        "IsoCode": "CN",
                    }
                ],
                "RequestId": "req-2",
            }
        }

    return route


def _signed(route):
    """Wrap a route so that it answers like Tencent when the signature does not check out."""

    def checked(rec):
        if not verify_tc3(rec.headers, rec.body, SECRET_ID, SECRET_KEY, "sms"):
            return 200, {
                "Response": {
                    "Error": {
                        "Code": "AuthFailure.SignatureFailure",
                        "Message": "The provided credentials could not be validated.",
                    },
                    "RequestId": "x",
                }
            }
        return route(rec)

    return checked


@pytest.fixture
def stub():
    s = HttpStub().start()
    yield s
    s.stop()


def _provider(stub, secret_key=SECRET_KEY, timeout=5.0):
    return TencentProvider(
        stub.url,
        SECRET_ID,
        secret_key,
        "1400000001",
        "示范职业技术学院",
        "1234567",
        timeout=timeout,
        clock=lambda: NOW + 0.9,
    )


def test_a_proxy_code_goes_out_with_its_own_template_or_not_at_all(stub):
    stub.routes["/"] = _signed(_ok)
    with pytest.raises(SmsError, match="no proxy template"):
        _provider(stub).send_code(PHONE, CODE, 5, for_proxy=True)
    assert stub.calls("/") == []
    provider = _provider(stub)
    provider.proxy_template_id = "7654321"
    provider.send_code(PHONE, CODE, 5, for_proxy=True)
    assert stub.calls("/")[0].json()["TemplateId"] == "7654321"


def test_tencent_sends_a_correctly_signed_sendsms(stub):
    stub.routes["/"] = _signed(_ok)
    _provider(stub).send_code(PHONE, CODE, 5)

    (rec,) = stub.calls("/")
    assert rec.method == "POST"
    assert verify_tc3(rec.headers, rec.body, SECRET_ID, SECRET_KEY, "sms")
    assert rec.json() == {
        "PhoneNumberSet": ["+8613812345678"],
        "SmsSdkAppId": "1400000001",
        "SignName": "示范职业技术学院",
        "TemplateId": "1234567",
        "TemplateParamSet": [CODE, "5"],
    }
    h = rec.headers
    assert h["x-tc-action"] == "SendSms" and h["x-tc-version"] == "2021-01-11"
    assert h["x-tc-region"] == "ap-guangzhou" and h["x-tc-timestamp"] == str(NOW)
    assert h["content-type"] == "application/json; charset=utf-8"
    assert h["host"] == stub.url.removeprefix("http://")
    assert h["authorization"].startswith(
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2019-02-25/sms/tc3_request, "
        "SignedHeaders=content-type;host;x-tc-action, Signature="
    )


def test_tencent_wrong_secret_key_is_rejected(stub):
    stub.routes["/"] = _signed(_ok)
    with pytest.raises(SmsError) as err:
        _provider(stub, secret_key="not-the-key").send_code(PHONE, CODE, 5)
    assert "AuthFailure.SignatureFailure" in str(err.value)
    assert len(stub.calls("/")) == 1


def test_tencent_status_error_names_the_code_only(stub):
    stub.routes["/"] = _signed(_status("LimitExceeded.PhoneNumberDailyLimit"))
    with pytest.raises(SmsError) as err:
        _provider(stub).send_code(PHONE, CODE, 5)
    message = str(err.value)
    assert "LimitExceeded.PhoneNumberDailyLimit" in message
    assert PHONE not in message and CODE not in message and "5678" not in message


def test_tencent_http_error(stub):
    stub.routes["/"] = lambda rec: (502, {"error": f"bad gateway: {rec.json()['PhoneNumberSet']}"})
    with pytest.raises(SmsError, match="HTTP 502") as err:
        _provider(stub).send_code(PHONE, CODE, 5)
    assert PHONE not in str(err.value) and CODE not in str(err.value)


def test_tencent_timeout(stub):
    def slow(rec):
        time.sleep(1.0)
        return _ok(rec)

    stub.routes["/"] = slow
    started = time.monotonic()
    with pytest.raises(SmsError) as err:
        _provider(stub, timeout=0.3).send_code(PHONE, CODE, 5)
    assert time.monotonic() - started < 0.9
    assert PHONE not in str(err.value) and CODE not in str(err.value)


def test_tencent_unreachable():
    s = HttpStub().start()
    url = s.url
    s.stop()
    provider = TencentProvider(url, SECRET_ID, SECRET_KEY, "1400000001", "s", "1", timeout=0.5)
    with pytest.raises(SmsError) as err:
        provider.send_code(PHONE, CODE, 5)
    assert PHONE not in str(err.value) and CODE not in str(err.value)


# --- settings -----------------------------------------------------------------------------------


def test_make_provider(tmp_path):
    console = make_provider({"SMS_PROVIDER": "console", "SMS_OUTBOX": str(tmp_path / "o.jsonl")})
    assert isinstance(console, ConsoleProvider)
    tencent = make_provider(
        {
            "SMS_PROVIDER": "tencent",
            "SMS_API_BASE": "https://sms.tencentcloudapi.com",
            "SMS_SECRET_ID": "id",
            "SMS_SECRET_KEY": "key",
            "SMS_SDK_APP_ID": "1400000001",
            "SMS_SIGN_NAME": "sign",
            "SMS_TEMPLATE_ID": "1",
        }
    )
    assert isinstance(tencent, TencentProvider) and tencent.host == "sms.tencentcloudapi.com"
    with pytest.raises(ValueError, match="SMS_PROVIDER"):
        make_provider({"SMS_PROVIDER": "carrier-pigeon"})


def test_tencent_sends_a_notice_with_the_ticket_number_only(stub):
    stub.routes["/"] = _signed(_ok)
    provider = TencentProvider(
        stub.url,
        SECRET_ID,
        SECRET_KEY,
        "1400000001",
        "示范职业技术学院",
        "1234567",
        notice_templates={"ticket_changed": "7654321"},
        clock=lambda: NOW + 0.9,
    )
    provider.send_notice(PHONE, "ticket_changed", ["GL20261128-0001"])
    (rec,) = stub.calls("/")
    assert verify_tc3(rec.headers, rec.body, SECRET_ID, SECRET_KEY, "sms")
    assert rec.json()["TemplateId"] == "7654321"
    assert rec.json()["TemplateParamSet"] == ["GL20261128-0001"]


def test_tencent_without_a_notice_template_sends_no_notice(stub):
    with pytest.raises(SmsError, match="no template"):
        _provider(stub).send_notice(PHONE, "ticket_changed", ["GA20261128-0001"])
    assert stub.calls("/") == []
