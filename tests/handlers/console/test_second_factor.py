"""The second step of a console sign-in: enrolment of an authenticator (QR and secret as text) for
a director who has none, the TOTP code on later sign-ins (drift, no reuse, 5 wrong codes lock),
the SMS fallback, the pending step's limits, and clerks who may enrol but need not."""

from __future__ import annotations

import base64
import re
import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from bot.platform import totp
from models import AuditEvent, StaffSignIn, StaffUser
from tests.conftest import outbox
from tests.handlers.console.test_appeals import (
    DIRECTOR_PHONE,
    PASSWORD,
    make_staff,
    post,
    rt_of,
    token,
)


def _password(client, username="boss"):
    client.get("/console/login")
    return client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token(client)},
    )


def _user(app, username="boss") -> StaffUser:
    with rt_of(app).sessions() as db:
        return db.scalar(select(StaffUser).where(StaffUser.username == username))


def _audit(app, action):
    with rt_of(app).sessions() as db:
        return [
            (e.actor_staff, e.result, e.detail)
            for e in db.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        ]


def _code(app, secret, steps=0):
    return pyotp.TOTP(secret).at(rt_of(app).domain.clock() + timedelta(seconds=30 * steps))


@pytest.fixture
def boss(app):
    make_staff(app, "boss", "director", DIRECTOR_PHONE, name="李主任")
    return app


def _enrol(app, client) -> str:
    """Password, then the enrolment page; returns the secret shown there."""
    res = _password(client)
    assert res.status_code == 303 and res.headers["Location"].endswith("/console/2fa")
    html = client.get("/console/2fa").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)[1].replace(" ", "")
    return secret


def test_a_director_enrols_with_the_qr_code_and_signs_in(boss, client):
    app = boss
    res = _password(client)
    assert client.get("/console/").status_code == 302  # the password alone opens nothing
    html = client.get("/console/2fa").get_data(as_text=True)
    assert "绑定身份验证器" in html and "改用短信验证码" in html and "尾号 0009" in html
    shown = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)[1]
    secret = shown.replace(" ", "")
    assert len(secret) == 32 and shown.count(" ") == 7  # grouped by four for typing by hand
    qr = re.search(r'<img class="qr" src="data:image/svg\+xml;base64,([^"]+)"', html)[1]
    svg = base64.b64decode(qr).decode()
    assert svg.startswith("<svg") and "<path" in svg  # drawn here, nothing fetched
    assert "<script" not in html.split("</style>")[1]
    assert _user(app).totp_secret_enc is None  # held (sealed) in Redis until confirmed

    res = post(
        client, "/console/2fa", code="000000" if _code(app, secret) != "000000" else "111111"
    )
    assert res.status_code == 400 and "验证码不正确" in res.get_data(as_text=True)
    res = post(client, "/console/2fa", code=" ".join(_code(app, secret)))  # spaces are fine
    assert res.status_code == 302 and res.headers["Location"].endswith("/console/")
    assert client.get("/console/").status_code == 200

    user = _user(app)
    assert user.totp_enrolled_at is not None and user.last_login_at is not None
    assert secret.encode() not in user.totp_secret_enc  # sealed
    assert totp.secret_of(rt_of(app).domain.cipher, user) == secret
    assert _audit(app, "totp_enrol") == [("boss", "ok", None)]
    assert [r[:2] for r in _audit(app, "staff_2fa")] == [("boss", "wrong"), ("boss", "ok")]
    with rt_of(app).sessions() as db:
        [sign_in] = db.scalars(select(StaffSignIn)).all()
        assert (sign_in.factor, sign_in.address) == ("totp", "127.0.0.1")


def test_later_sign_ins_ask_for_the_code_accept_drift_and_never_the_same_code_twice(boss):
    app = boss
    first = app.test_client()
    secret = _enrol(app, first)
    code = _code(app, secret)
    assert post(first, "/console/2fa", code=code).status_code == 302

    again = app.test_client()
    assert _password(again).headers["Location"].endswith("/console/2fa")
    html = again.get("/console/2fa").get_data(as_text=True)
    assert "totp-secret" not in html and "输入“学历异议处理台”显示的 6 位数字" in html
    res = post(again, "/console/2fa", code=code)  # seen once already: refused
    assert res.status_code == 400
    assert post(again, "/console/2fa", code=_code(app, secret, +3)).status_code == 400
    assert post(again, "/console/2fa", code=_code(app, secret, +1)).status_code == 302  # drift
    assert again.get("/console/").status_code == 200


def test_five_wrong_codes_pause_the_second_step(boss, client):
    app = boss
    secret = _enrol(app, client)
    good = _code(app, secret)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert post(client, "/console/2fa", code=wrong).status_code == 400
    res = post(client, "/console/2fa", code=good)
    assert res.status_code == 429 and "分钟后再试" in res.get_data(as_text=True)
    assert _audit(app, "staff_2fa")[-1][:2] == ("boss", "locked")
    assert client.get("/console/").status_code == 302


def test_the_sms_fallback_signs_in_without_an_authenticator(boss, client):
    app = boss
    _password(client)
    client.get("/console/2fa")
    res = post(client, "/console/2fa/sms")
    assert res.status_code == 303 and res.headers["Location"].endswith("/console/2fa?via=sms")
    [sms] = outbox(app)
    assert sms["phone"] == DIRECTOR_PHONE
    html = client.get("/console/2fa?via=sms").get_data(as_text=True)
    assert "短信验证码登录" in html and "验证码已发送到尾号 0009" in html
    assert post(client, "/console/2fa?via=sms", code="12345").status_code == 400
    res = post(client, "/console/2fa?via=sms", code=sms["code"])
    assert res.status_code == 302 and client.get("/console/").status_code == 200
    assert _user(app).totp_secret_enc is None  # still to enrol next time
    with rt_of(app).sessions() as db:
        assert db.scalar(select(StaffSignIn.factor)) == "sms"
    assert [r[:2] for r in _audit(app, "login_code")] == [("boss", "ok")]
    assert [r[1:] for r in _audit(app, "staff_2fa")] == [("wrong", "sms"), ("ok", "sms")]


def test_the_pending_step_expires_and_cannot_be_reached_without_a_password(boss, client):
    app = boss
    res = client.get("/console/2fa")
    assert res.status_code == 302 and res.headers["Location"].endswith("/console/login")
    _password(client)
    client.get("/console/2fa")
    with client.session_transaction() as s:
        s["pending"] = {**s["pending"], "at": int(time.time()) - 301}
    res = post(client, "/console/2fa", code="123456")
    assert res.status_code == 302 and res.headers["Location"].endswith("/console/login")
    assert "登录步骤已超时" in client.get("/console/login").get_data(as_text=True)
    assert post(client, "/console/2fa/sms").status_code == 302 and outbox(app) == []


def test_the_next_page_survives_the_second_step(boss, client):
    app = boss
    client.get("/console/login")
    client.post(
        "/console/login?next=/console/users",
        data={"username": "boss", "password": PASSWORD, "csrf_token": token(client)},
    )
    html = client.get("/console/2fa").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)[1].replace(" ", "")
    res = post(client, "/console/2fa", code=_code(app, secret))
    assert res.headers["Location"].endswith("/console/users")


def test_a_clerk_signs_in_with_the_password_until_they_enrol(app, client):
    make_staff(app)
    res = _password(client, "clerk1")
    assert res.status_code == 302 and res.headers["Location"].endswith("/console/")
    with rt_of(app).sessions() as db:
        assert db.scalar(select(StaffSignIn.factor)) == "password"
    html = client.get("/console/account/totp").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)[1].replace(" ", "")
    assert post(client, "/console/account/totp", code="99999").status_code == 400
    res = post(client, "/console/account/totp", code=_code(app, secret))
    assert res.status_code == 303
    assert "已绑定" in client.get("/console/account").get_data(as_text=True)

    later = app.test_client()
    assert _password(later, "clerk1").headers["Location"].endswith("/console/2fa")
    html = later.get("/console/2fa").get_data(as_text=True)
    assert "联系主任" in html and "send-sms" not in html  # no phone: no SMS fallback
    assert post(later, "/console/2fa/sms").status_code == 400
    assert post(later, "/console/2fa", code=_code(app, secret, +1)).status_code == 302


def test_an_auditor_lands_on_the_anomaly_report(app, client):
    make_staff(app, "audit1", "auditor", "13700000008", name="纪检员")
    secret_page = _password(client, "audit1")
    assert secret_page.headers["Location"].endswith("/console/2fa")
    html = client.get("/console/2fa").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)[1].replace(" ", "")
    res = post(client, "/console/2fa", code=_code(app, secret))
    assert res.headers["Location"].endswith("/console/anomalies")
