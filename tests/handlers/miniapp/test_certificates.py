"""The diploma record and certificates through /api/v1: a refusal says what the chat says for the
same decision (the texts come from the reply templates, the decisions from bot/diploma/rules.py).
A proxy's actions are tested in test_proxies.py."""

from __future__ import annotations

from bot.core.replies import ReplyBook
from tests.handlers.miniapp.test_api import _sms_code
from tests.miniapp_support import add_diploma, said_in

BOOK = ReplyBook()


def _say(mini, text: str) -> str:
    return "\n".join(r["text"] for r in mini.post("/chat", {"text": text}).json["replies"])


def test_not_bound_is_refused_with_the_chats_words(mini, mini_demo):
    mini.login("wxa", "o-wxa-unbound")
    res = mini.get("/diploma")
    assert res.status_code == 403 and res.json["error"]["code"] == "not_bound"
    assert said_in(res.json["error"]["message"], _say(mini, "2"))


def test_a_closed_certificate_is_refused_with_the_chats_words(mini, mini_app, mini_demo):
    _, _, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-holder")
    assert (
        mini.post(
            "/binding", {"name": "李小红", "id_number": id_number, "consent": True}
        ).status_code
        == 202
    )
    assert mini.post("/code/verify", {"code": _sms_code(mini, phone)}).json["status"] == "bound"
    add_diploma(mini_app, "2017020118")
    code = mini.post("/certificates", {"days": 60}).json["code"]
    assert mini.post(f"/certificates/{code}/close").json["status"] == "closed"
    res = mini.post(f"/certificates/{code}/extend", {"days": 90})
    assert res.status_code == 409 and res.json["error"]["code"] == "certificate_final"
    assert said_in(res.json["error"]["message"], BOOK.render("diploma/cert_final", code=code))


def test_extending_never_shortens_a_certificate(mini, mini_app, mini_demo):
    _, _, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-extender")
    mini.post("/binding", {"name": "李小红", "id_number": id_number, "consent": True})
    assert mini.post("/code/verify", {"code": _sms_code(mini, phone)}).json["status"] == "bound"
    add_diploma(mini_app, "2017020118")
    issued = mini.post("/certificates", {"days": 180}).json
    res = mini.post(f"/certificates/{issued['code']}/extend", {"days": 30})
    assert res.status_code == 409 and res.json["error"]["code"] == "certificate_not_longer"
    assert "不会缩短" in res.json["error"]["message"] and "回复" not in res.json["error"]["message"]
    assert mini.get("/certificates").json["certificates"][0]["valid_until"] == issued["valid_until"]
    assert mini.post(f"/certificates/{issued['code']}/extend", {"days": 180}).status_code == 200
