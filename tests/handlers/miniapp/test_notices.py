"""Notices that arrive from the mini-program side: a user who did not subscribe to the status
messages (the subscribe API answers 43101) is told of a change to their lost-certificate request by
SMS (the ticket number only) and by e-mail to the address they gave, through a real SMTP server on
loopback (aiosmtpd)."""

from __future__ import annotations

import io
import socket

import pytest

from tests.bot.appeals.test_notices_reach import CONTACT, _console, _move, _notices
from tests.handlers.miniapp.test_lost import _bind
from tests.stubs import PNG_BYTES


@pytest.fixture
def smtp():
    """A real SMTP server on loopback that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            return "250 Message accepted for delivery"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_a_mini_program_user_who_did_not_subscribe_gets_sms_and_e_mail(make_app, stubs, keys, smtp):
    from tests.channel_stubs import OA_SECRET, WXA_APP_ID, WXA_SECRET
    from tests.miniapp_support import MiniClient

    port, inbox = smtp
    stubs["wxa"].routes["/cgi-bin/message/subscribe/send"] = lambda rec: (
        200,
        {"errcode": 43101, "errmsg": "user refuse to accept the msg"},
    )
    app = make_app(
        WXA_APP_ID=WXA_APP_ID,
        WXA_APP_SECRET=WXA_SECRET,
        WECHAT_API_BASE=stubs["wxa"].url,
        WECHAT_APP_SECRET=OA_SECRET,
        WXA_TEMPLATE_APPEAL="TPL-WXA-APPEAL",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_FROM="registrar@college.example.edu.cn",
    )
    from bot.platform.demo import seed_demo

    seed_demo(app.extensions["gradcert"])
    mini = MiniClient(app, stubs)
    mini.login("wxa", "o-wxa-mail")
    _bind(app, "o-wxa-mail")
    res = mini.post(
        "/lost-certificates",
        data={
            "delivery": "post",
            "address": "四川省成都市武侯区人民南路四段9号 张三收",
            "contact_phone": CONTACT,
            "email": "zhangsan@example.com",
            "photos": [(io.BytesIO(PNG_BYTES), "id.png")],
        },
        json=None,
        content_type="multipart/form-data",
    )
    assert res.status_code == 201, res.json
    ticket = res.json["ticket_no"]
    _move(app, _console(app), ticket, ("under_review", "材料齐全，正在办理"))
    [sms] = _notices(app)
    assert sms["params"] == [ticket] and sms["phone"] == CONTACT
    [mail] = inbox.envelopes
    assert mail.rcpt_tos == ["zhangsan@example.com"]
    text = mail.content.decode("utf-8", "replace")
    assert "registrar@college.example.edu.cn" in mail.mail_from
    body = _decoded(mail.content)
    assert ticket in body and "处理中" in body
    for private in ("人民南路", "张三", CONTACT, "正在办理"):
        assert private not in body and private not in text
    with app.extensions["gradcert"].sessions() as db:
        from sqlalchemy import select

        from models import AppealEvent

        notes = db.scalars(select(AppealEvent.note).where(AppealEvent.kind == "note")).all()
    assert notes == ["微信/小程序未能送达“处理中”的通知；已发短信通知 139****5678；已发邮件通知"]


def _decoded(raw: bytes) -> str:
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    return message["Subject"] + "\n" + message.get_content()
