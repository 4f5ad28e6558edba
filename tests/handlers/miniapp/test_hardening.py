"""Races and edge cases of the mini-program API: a session ended while its phone proof is in flight,
Idempotency-Key replays across query strings, a binding begun before 删除我的信息 or whose consent
is gone, and a lookup check whose binding went away meanwhile."""

from __future__ import annotations

from sqlalchemy import func, select, update

from bot.account.rules import unbind
from handlers.channels import wxa_api
from handlers.miniapp import binding as api_binding
from handlers.miniapp.sessions import SessionStore
from models import Binding, Certificate, Consent
from tests.conftest import outbox
from tests.miniapp_support import MiniClient, add_diploma


def _sms_code(mini, phone: str) -> str:
    mini.run_jobs()
    sent = [m for m in outbox(mini.app) if m["phone"] == phone]
    assert sent, "no SMS was sent"
    return sent[-1]["code"]


def _count(app, model, *where) -> int:
    with app.extensions["gradcert"].sessions() as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def _bind_with_phone(mini: MiniClient, stubs, demo_row, user: str) -> None:
    _, name, id_number, phone, _ = demo_row
    mini.login("wxa", user)
    stubs["wxa"].phone_codes[f"pc-{user}"] = phone
    assert mini.post("/session/phone", {"code": f"pc-{user}"}).status_code == 200
    res = mini.post("/binding", {"name": name, "id_number": id_number, "consent": True})
    assert res.status_code == 200 and res.json["status"] == "bound", res.json


# -- sessions ---------------------------------------------------------------------------------------
def test_a_session_ended_during_the_phone_proof_stays_ended(mini, mini_app, monkeypatch):
    redis = mini_app.extensions["gradcert"].redis
    mini.login("wxa", "o-wxa-phone-race")
    key = SessionStore._key(mini.token)
    real = wxa_api.phone_number

    def logged_out_meanwhile(client, code):
        redis.delete(key)  # logout or 删除我的信息 on another request while WeChat answers
        return real(client, code)

    mini.stubs["wxa"].phone_codes["pc-race"] = "13800138000"
    monkeypatch.setattr(wxa_api, "phone_number", logged_out_meanwhile)
    res = mini.post("/session/phone", {"code": "pc-race"})
    assert res.status_code == 401 and res.json["error"]["code"] == "unauthorized"
    assert redis.exists(key) == 0
    res = mini.get("/session")
    assert res.status_code == 401 and res.json["error"]["code"] == "unauthorized"
    assert redis.exists(key) == 0


def test_a_session_hash_without_created_at_is_no_session(mini, mini_app):
    redis = mini_app.extensions["gradcert"].redis
    mini.login("wxa", "o-wxa-stray")
    key = SessionStore._key(mini.token)
    redis.hdel(key, "created_at")
    res = mini.get("/session")
    assert res.status_code == 401 and res.json["error"]["code"] == "unauthorized"
    assert redis.exists(key) == 0


# -- idempotency ------------------------------------------------------------------------------------
def test_an_idempotency_key_is_not_replayed_for_another_query_string(
    mini, mini_app, mini_demo, stubs
):
    add_diploma(mini_app, mini_demo["李小红"][0])
    _bind_with_phone(mini, stubs, mini_demo["李小红"], "o-wxa-idem")
    key = {"Idempotency-Key": "k-1"}
    first = mini.post("/certificates", {"days": 90}, headers=key)
    assert first.status_code == 201, first.json
    again = mini.post("/certificates", {"days": 90}, headers=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    other = mini.post("/certificates?acting_for=999", {"days": 90}, headers=key)
    assert other.status_code == 422 and other.json["error"]["code"] == "idempotency_key_reused"
    assert "Idempotent-Replayed" not in other.headers
    assert mini.post("/certificates?acting_for=999", {"days": 90}).status_code == 404
    assert _count(mini_app, Certificate) == 1


# -- binding and consent ----------------------------------------------------------------------------
def test_a_binding_begun_before_deleting_my_data_is_forgotten(mini, mini_app, mini_demo):
    _, name, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-pending")
    res = mini.post("/binding", {"name": name, "id_number": id_number, "consent": True})
    assert res.status_code == 202, res.json
    code = _sms_code(mini, phone)
    assert mini.delete("/me").status_code == 200
    mini.login("wxa", "o-wxa-pending")
    status = mini.get("/binding").json
    assert status["pending_purpose"] is None and status["consented"] is False
    res = mini.post("/code/verify", {"code": code})
    assert res.status_code == 409 and res.json["error"]["code"] == "nothing_to_verify"
    assert _count(mini_app, Binding, Binding.state == "active") == 0


def test_a_pending_binding_without_consent_is_refused(mini, mini_app, mini_demo):
    _, name, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-withdrawn")
    res = mini.post("/binding", {"name": name, "id_number": id_number, "consent": True})
    assert res.status_code == 202, res.json
    with mini_app.extensions["gradcert"].sessions() as db:  # withdrawn elsewhere (e.g. in the chat)
        db.execute(update(Consent).values(withdrawn_at=func.now()))
        db.commit()
    res = mini.post("/code/verify", {"code": _sms_code(mini, phone)})
    assert res.status_code == 409 and res.json["error"]["code"] == "consent_required"
    assert _count(mini_app, Binding) == 0
    assert mini.get("/binding").json["pending_purpose"] is None
    assert _count(mini_app, Consent, Consent.withdrawn_at.is_(None)) == 0


def test_a_lookup_check_whose_binding_went_away_is_refused(
    mini, mini_app, mini_demo, stubs, monkeypatch
):
    phone = mini_demo["李小红"][3]
    _bind_with_phone(mini, stubs, mini_demo["李小红"], "o-wxa-lookup")
    mini.login("wxa", "o-wxa-lookup")  # a new session: no proven phone, so the check is by SMS
    res = mini.post("/code")
    assert res.status_code == 202 and res.json["purpose"] == "lookup", res.json
    real = api_binding.check_code

    def taken_over_meanwhile(s, student, purpose, digits):
        verdict = real(s, student, purpose, digits)
        unbind(s.db, s.account, "displaced")
        return verdict

    monkeypatch.setattr(api_binding, "check_code", taken_over_meanwhile)
    res = mini.post("/code/verify", {"code": _sms_code(mini, phone)})
    assert res.status_code == 409 and res.json["error"]["code"] == "nothing_to_verify"
