"""A proxy request's code has its own budget: strangers who know a graduate's name and ID number
cannot lock the graduate out of their own codes (issue 12), through the real WeChat callback."""

import pytest

from bot.platform.demo import demo_students, seed_demo
from tests.conftest import Chat, outbox
from tests.stubs import wechat_api_stub


@pytest.fixture
def wx(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
    seed_demo(app.extensions["gradcert"])
    yield app, Chat(app), stub
    stub.stop()


def _graduate(n=0):
    no, name, id_number, phone, _ = demo_students()[n]
    return name, id_number, no, phone


def _ask_by_code(chat, openid, graduate) -> str:
    """A new account asks to act for the graduate (parent) and picks "1 code to the phone"."""
    name, id_number, _, _ = graduate
    chat.say(openid, "0")
    chat.say(openid, "5")
    chat.say(openid, "1")
    chat.say(openid, "1")
    assert "代办人个人信息告知" in chat.say(openid, f"{name} {id_number}")
    assert "需要毕业生本人同意" in chat.say(openid, "1")
    return chat.say(openid, "1")


def _a_minute_passes(app):
    """The per-minute windows end (everything else, the daily counts, stays)."""
    redis = app.extensions["gradcert"].redis
    stale = [k for k in redis.keys("gc:*") if k.endswith((b":60", b":cool"))]
    if stale:
        redis.delete(*stale)


def _sent_to(app, phone):
    Chat(app).run_jobs()
    return [m for m in outbox(app) if m["phone"] == phone]


def test_strangers_cannot_lock_the_graduate_out_of_their_own_code(wx):
    app, chat, _ = wx
    graduate = _graduate()
    phone = graduate[3]
    # the scenario, and more: four new accounts ask for 张三 with his name and ID number
    answers = []
    for n in range(4):
        answers.append(_ask_by_code(chat, f"stranger{n}", graduate))
        _a_minute_passes(app)
    assert all("验证码已发到毕业生登记的手机" in a for a in answers[:3])
    assert "今天已收到3条代办验证码" in answers[3]
    assert "回复“2”" in answers[3]  # and the other way still works from where they are
    assert "毕业生还没有在这里绑定身份" in chat.say("stranger3", "2")  # the step understood it
    # a stranger's resends spend the same budget
    _a_minute_passes(app)
    assert "今天已收到3条代办验证码" in chat.say("stranger0", "重发")
    sent = _sent_to(app, phone)
    assert len(sent) == 3
    assert all("有人申请代你办理" in m["text"] and "陌生人索要" in m["text"] for m in sent)
    # the graduate still gets their own code, with the graduate's own text, and binds
    name, id_number, no, _ = graduate
    chat.say("grad", "1")
    chat.say("grad", "1")
    assert "验证码已发" in chat.say("grad", f"{name} {id_number} {no}")
    own = _sent_to(app, phone)[-1]
    assert "有人申请" not in own["text"] and "请勿告诉他人" in own["text"]
    assert "绑定成功" in chat.say("grad", own["code"])


def test_a_bound_graduate_is_told_in_the_chat_and_can_refuse_there(wx):
    app, chat, stub = wx
    name, id_number, no, phone = _graduate()
    chat.say("grad", "1")
    chat.say("grad", "1")
    chat.say("grad", f"{name} {id_number} {no}")
    assert "绑定成功" in chat.say("grad", _sent_to(app, phone)[-1]["code"])
    _a_minute_passes(app)
    assert "验证码已发到毕业生登记的手机" in _ask_by_code(
        chat, "stranger", (name, id_number, no, phone)
    )
    chat.run_jobs()
    pushed = [
        r.json()["text"]["content"]
        for r in stub.calls("/cgi-bin/message/custom/send")
        if r.json()["touser"] == "grad"
    ]
    [notice] = [t for t in pushed if "代办验证码已发到你的手机" in t]
    assert "自称你的父母" in notice and "陌生人索要请勿告诉" in notice and len(notice) <= 200
    number = notice.split("拒绝代办 ")[1].rstrip("”。")
    assert "已拒绝" in chat.say("grad", f"拒绝代办 {number}")
    assert "代办申请已经结束" in chat.say("stranger", _sent_to(app, phone)[-1]["code"])


def test_one_account_gets_three_proxy_codes_a_day_whoever_it_asks_for(wx):
    app, chat, _ = wx
    first, second = _graduate(0), _graduate(1)
    for _ in range(3):
        assert "验证码已发到毕业生登记的手机" in _ask_by_code(chat, "asker", first)
        _a_minute_passes(app)
    assert "你今天申请代办发出的验证码已到上限" in _ask_by_code(chat, "asker", second)
    assert _sent_to(app, second[3]) == []
    # another account may still ask for the second graduate
    assert "验证码已发到毕业生登记的手机" in _ask_by_code(chat, "other", second)
