"""Notices that arrive: when the channel's own API says it cannot reach the person (WeChat's
customer-service API out of the 48-hour window, a mini-program user who did not subscribe), a
ticket's status change goes by SMS naming the ticket only, within the phone's daily notice budget.
The mini-program and e-mail side: tests/handlers/miniapp/test_notices.py."""

from __future__ import annotations

from tests.conftest import Chat, outbox
from tests.handlers.console.test_appeals import login, make_staff, post
from tests.stubs import wechat_api_stub

CONTACT = "13912345678"
OUT_OF_WINDOW = {
    "errcode": 45015,
    "errmsg": "response out of time limit or subscription is canceled",
}


def _wechat_app(make_app, answer: dict | None = None, **config):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    if answer is not None:  # what the customer-service API answers every message
        stub.routes["/cgi-bin/message/custom/send"] = lambda rec: (200, answer)
    app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url, **config)
    return app, stub


def _file_appeal(chat, openid: str) -> str:
    chat.say(openid, "3")
    chat.say(openid, "9")  # none of the usual causes
    chat.say(openid, "王芳 440306200001011231")
    chat.say(openid, "我的毕业证书查不到，是2019年护理专业毕业的。")
    chat.say(openid, "1")
    chat.say(openid, "完成")
    chat.say(openid, CONTACT)
    filed = chat.say(openid, "1")
    assert "申请编号 GA" in filed
    return filed.split("申请编号 ")[1].split("。")[0]


def _ticket_id(app, ticket_no: str) -> int:
    from sqlalchemy import select

    from models import Appeal

    with app.extensions["gradcert"].sessions() as db:
        return db.scalar(select(Appeal.id).where(Appeal.ticket_no == ticket_no))


def _move(app, console, ticket_no: str, *moves: tuple[str, str]) -> None:
    ticket_id = _ticket_id(app, ticket_no)
    for to, note in moves:
        res = post(console, f"/console/tickets/{ticket_id}/status", to=to, note=note)
        assert res.status_code == 303, res.get_data(as_text=True)
        Chat(app).run_jobs()


def _console(app, username: str = "clerk1"):
    make_staff(app, username=username)
    console = app.test_client()
    login(console, username=username)
    return console


def _notices(app) -> list[dict]:
    return [m for m in outbox(app) if m.get("notice") == "ticket_changed"]


def test_out_of_the_48_hour_window_the_change_goes_by_sms(make_app):
    app, stub = _wechat_app(make_app, OUT_OF_WINDOW)
    ticket = _file_appeal(Chat(app), "far-away")
    _move(app, _console(app), ticket, ("need_more_info", "请补充王芳的毕业证书照片"))
    assert len(stub.calls("/cgi-bin/message/custom/send")) == 1  # tried the chat first
    [sms] = _notices(app)
    assert sms["phone"] == CONTACT and sms["params"] == [ticket]
    assert ticket in sms["text"] and "回复4" in sms["text"]
    for private in ("王芳", CONTACT, "毕业证书照片", "440306"):  # the ticket number only
        assert private not in sms["text"]
    # staff see on the timeline (internal) how the person was told
    page = _console(app, "clerk2").get(f"/console/tickets/{_ticket_id(app, ticket)}")
    html = page.get_data(as_text=True)
    assert "微信/小程序未能送达“需要补充材料”的通知；已发短信通知 139****5678" in html
    stub.stop()


def test_a_person_the_chat_reaches_gets_no_sms(make_app):
    app, stub = _wechat_app(make_app)
    ticket = _file_appeal(Chat(app), "near")
    _move(app, _console(app), ticket, ("under_review", "正在核对"))
    assert len(stub.calls("/cgi-bin/message/custom/send")) == 1 and _notices(app) == []
    stub.stop()


def test_the_phones_daily_budget_of_notices(make_app):
    app, stub = _wechat_app(make_app, OUT_OF_WINDOW, SMS_NOTICE_PER_DAY=2)
    ticket = _file_appeal(Chat(app), "far-away")
    _move(
        app,
        _console(app),
        ticket,
        ("under_review", "正在核对"),
        ("need_more_info", "请补充材料"),
        ("under_review", "继续核对"),
    )
    assert len(stub.calls("/cgi-bin/message/custom/send")) == 3
    assert len(_notices(app)) == 2  # the third change waits for the chat or tomorrow
    html = (
        _console(app, "clerk2")
        .get(f"/console/tickets/{_ticket_id(app, ticket)}")
        .get_data(as_text=True)
    )
    assert html.count("已发短信通知") == 2 and "今日短信通知已达上限" in html
    stub.stop()


def test_another_wechat_error_is_not_taken_for_out_of_reach(make_app):
    """A quota error is the service's problem, not the person's: the job fails and waits for its
    retry (handlers.jobs.PUSH_RETRY), and no SMS goes out."""
    from rq import SimpleWorker

    app, stub = _wechat_app(make_app, {"errcode": 45009, "errmsg": "reach max api daily quota"})
    ticket_id = _ticket_id(app, _file_appeal(Chat(app), "quota"))
    post(_console(app), f"/console/tickets/{ticket_id}/status", to="under_review", note="正在核对")
    rt = app.extensions["gradcert"]
    with app.app_context():
        SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, logging_level="CRITICAL")
    assert len(rt.queue.scheduled_job_registry) == 1  # failed, to be retried later
    assert len(stub.calls("/cgi-bin/message/custom/send")) == 1 and _notices(app) == []
    stub.stop()
