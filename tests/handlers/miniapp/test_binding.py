"""Binding through /api/v1/binding answers what the chat answers: for the same input, the API's
error message is the sentence the chat says (the chat adds only its own instructions, such as
"回复1…"), and its code names the same rule result (bot.binding.rules)."""

from __future__ import annotations

import itertools

import pytest

from tests.conftest import Chat, outbox

_users = itertools.count(1)
ID_WITH_BAD_CHECKSUM = "110105199912311051"
ID_OF_17_DIGITS = "11010519991231105"


def _chat_says(chat: Chat, name: str, id_number: str | None = None, student_no=None) -> str:
    """What the chat answers to the last of name, ID number, student number (one step each)."""
    openid = f"drift-{next(_users)}"
    assert "个人信息告知" in chat.say(openid, "1")
    assert "请发送你的姓名" in chat.say(openid, "同意")
    said = [v for v in (name, id_number, student_no) if v is not None]
    for value in said[:-1]:
        chat.say(openid, value)
    return chat.say(openid, said[-1])


def _api_answers(mini, name: str, id_number: str, student_no: str | None = None):
    mini.login("wxa", f"o-drift-{next(_users)}")
    body = {"name": name, "id_number": id_number, "consent": True}
    if student_no is not None:
        body["student_no"] = student_no
    return mini.post("/binding", body)


def _same_refusal(chat_reply: str, res, status: int, code: str) -> None:
    assert res.status_code == status, res.json
    error = res.json["error"]
    assert error["code"] == code
    assert error["message"] and error["message"] in chat_reply, (error["message"], chat_reply)


def test_a_matching_identity_sends_the_code_on_both(mini, mini_app, mini_demo):
    no, name, id_number, _, _ = mini_demo["李小红"]
    reply = _chat_says(Chat(mini_app), name, id_number, no)
    redis = mini_app.extensions["gradcert"].redis
    redis.delete(*redis.keys("gc:{phone:*"))  # the phone's 1-a-minute limit
    res = _api_answers(mini, name, id_number, no)
    assert res.status_code == 202 and res.json["status"] == "code_sent"
    assert "验证码已发到" in reply and res.json["phone_masked"] in reply


WRONG_IDS = [(ID_WITH_BAD_CHECKSUM, "checksum"), (ID_OF_17_DIGITS, "length")]


@pytest.mark.parametrize("id_number, problem", WRONG_IDS)
def test_a_wrong_id_number_is_explained_the_same_way(mini, mini_app, mini_demo, id_number, problem):
    reply = _chat_says(Chat(mini_app), "李小红", id_number)
    res = _api_answers(mini, "李小红", id_number)
    _same_refusal(reply, res, 422, "invalid_id_number")
    assert res.json["error"]["problem"] == problem


def test_a_name_that_is_not_one_is_refused_the_same_way(mini, mini_app, mini_demo):
    _, _, id_number, _, _ = mini_demo["李小红"]
    reply = _chat_says(Chat(mini_app), "李")
    _same_refusal(reply, _api_answers(mini, "李", id_number), 400, "bad_name")


def test_a_bad_student_number_is_refused_the_same_way(mini, mini_app, mini_demo):
    _, name, id_number, _, _ = mini_demo["李小红"]
    reply = _chat_says(Chat(mini_app), name, id_number, "12")
    _same_refusal(reply, _api_answers(mini, name, id_number, "12"), 400, "bad_student_no")


def test_an_identity_that_matches_nobody_is_refused_the_same_way(mini, mini_app, mini_demo):
    no, _, id_number, _, _ = mini_demo["李小红"]
    reply = _chat_says(Chat(mini_app), "李小虹", id_number, no)
    _same_refusal(reply, _api_answers(mini, "李小虹", id_number, no), 422, "identity_mismatch")


def test_the_mismatch_lock_is_explained_the_same_way(mini, mini_app, mini_demo):
    no, name, id_number, _, _ = mini_demo["李小红"]
    chat, openid = Chat(mini_app), "drift-lock"
    assert "个人信息告知" in chat.say(openid, "1")
    chat.say(openid, "同意")
    mini.login("wxa", "o-drift-lock")
    for _ in range(5):
        assert "对不上" in chat.say(openid, f"李小虹 {id_number} {no}")
        chat.say(openid, "1")
        wrong = {"name": "李小虹", "id_number": id_number, "consent": True}
        assert mini.post("/binding", wrong).status_code == 422
    reply = chat.say(openid, f"{name} {id_number} {no}")
    right = {"name": name, "id_number": id_number, "student_no": no, "consent": True}
    res = mini.post("/binding", right)
    _same_refusal(reply, res, 429, "too_many_mismatches")
    assert "60分钟" in res.json["error"]["message"]


def test_a_wrong_code_is_refused_the_same_way(mini, mini_app, mini_demo):
    no, name, id_number, _, _ = mini_demo["李小红"]
    chat, openid = Chat(mini_app), "drift-code"
    assert "个人信息告知" in chat.say(openid, "1")
    chat.say(openid, "同意")
    assert "验证码已发到" in chat.say(openid, f"{name} {id_number} {no}")
    redis = mini_app.extensions["gradcert"].redis
    redis.delete(*redis.keys("gc:{phone:*"))  # the phone's 1-a-minute limit
    assert _api_answers(mini, name, id_number, no).status_code == 202
    mini.run_jobs()
    sent = {m["code"] for m in outbox(mini_app)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in sent)
    reply = chat.say(openid, wrong)
    res = mini.post("/code/verify", {"code": wrong})
    _same_refusal(reply, res, 422, "code_wrong")
    assert res.json["error"]["tries_left"] == 4
