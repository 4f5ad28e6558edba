"""The yearly re-confirmation in the mini-program API: past the period a proven phone no longer
replaces the SMS code (403 `reconfirmation_required`), and the code re-confirms the binding."""

from __future__ import annotations

from datetime import timedelta

from models import utcnow
from tests.conftest import outbox
from tests.miniapp_support import add_diploma


def test_past_the_year_a_proven_phone_is_not_enough(mini, mini_app, mini_demo, stubs):
    _, _, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-yearly")
    stubs["wxa"].phone_codes["pc-1"] = phone
    assert mini.post("/session/phone", {"code": "pc-1"}).status_code == 200
    bound = mini.post("/binding", {"name": "李小红", "id_number": id_number, "consent": True})
    assert bound.json["status"] == "bound" and bound.json["verified_by"] == "phone"
    add_diploma(mini_app, "2017020118")
    rt = mini_app.extensions["gradcert"]
    rt.domain.clock = lambda: utcnow() + timedelta(days=200)  # within the year: the phone will do
    assert mini.get("/diploma").json["state"] == "record"
    rt.domain.clock = lambda: utcnow() + timedelta(days=200 + 366)
    refused = mini.get("/diploma")
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "reconfirmation_required"
    assert "满一年" in refused.json["error"]["message"]
    assert mini.post("/code").status_code == 202
    mini.run_jobs()
    code = [m for m in outbox(mini_app) if m["phone"] == phone][-1]["code"]
    assert mini.post("/code/verify", {"code": code}).status_code == 200
    assert mini.get("/diploma").json["state"] == "record"
