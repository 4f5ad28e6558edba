"""Appeals through /api/v1: a refusal says what the chat says for the same decision (the texts
come from the reply templates, the decisions from bot/appeals)."""

from __future__ import annotations

import pytest

from bot.core.replies import ReplyBook
from tests.miniapp_support import said_in

BOOK = ReplyBook()
FORM = {
    "category": "other",
    "description": "毕业证书上的专业写错了。",
    "contact_phone": "13900002222",
}


def _say(mini, text: str) -> str:
    return "\n".join(r["text"] for r in mini.post("/chat", {"text": text}).json["replies"])


@pytest.fixture
def claimant(mini, mini_demo):
    """An unbound user who gives 张三's identity with each appeal."""
    _, _, id_number, _, _ = mini_demo["张三"]
    mini.login("wxa", "o-wxa-claimant")
    return mini, {**FORM, "name": "张三", "id_number": id_number}


def _refused(res, status: int, code: str) -> str:
    assert res.status_code == status and res.json["error"]["code"] == code, res.json
    return res.json["error"]["message"]


def test_an_invalid_id_number_is_explained_as_in_the_chat(claimant):
    mini, form = claimant
    wrong = form["id_number"][:17] + ("1" if form["id_number"][17] != "1" else "2")
    message = _refused(
        mini.post("/appeals", {**form, "id_number": wrong}), 422, "invalid_id_number"
    )
    assert message == BOOK.render("idcard/checksum")


def test_the_filing_refusals_say_what_the_chat_says(claimant):
    mini, form = claimant
    message = _refused(
        mini.post("/appeals", {**form, "category": "name_change"}), 422, "photos_required"
    )
    assert said_in(message, BOOK.render("appeal/photos_required", needs="派出所出具的姓名变更证明"))
    message = _refused(
        mini.post("/appeals", {**form, "contact_phone": "23900002222"}), 400, "bad_phone"
    )
    assert said_in(message, BOOK.render("appeal/bad_phone"))
    message = _refused(
        mini.post("/appeals", {**form, "description": "错了"}), 400, "description_short"
    )
    for said in ("3", "9", f"张三 {form['id_number']}"):
        _say(mini, said)
    assert said_in(message, _say(mini, "错了"))
    _say(mini, "0")
    for _ in range(3):
        assert mini.post("/appeals", form).status_code == 201
    message = _refused(mini.post("/appeals", form), 409, "too_many_open")
    assert said_in(message, _say(mini, "3"))
