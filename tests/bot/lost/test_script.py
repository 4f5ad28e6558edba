"""证书遗失 through the real WeChat callback: a bound graduate asks for a 学历证明书 with the photos,
an urgent date, post to an address (sealed) and the phone on file; staff move the ticket in the
console and the graduate is told each step by customer-service message. Also: pickup, the fee the
college sets, who may ask, and what the words mean at the menu."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models import Appeal, Attachment, LostCertificate
from tests.bot.proxies.test_script import _bind_graduate
from tests.bot.proxies.test_script import wx as proxy_wx  # noqa: F401 (a fixture)
from tests.conftest import Chat
from tests.handlers.console.test_appeals import login, make_staff, post
from tests.stubs import PNG_BYTES, add_media, wechat_api_stub

ADDRESS = "四川省成都市武侯区人民南路四段9号 李小红收"


@pytest.fixture
def wx(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    add_media(stub, {"id-front": PNG_BYTES, "statement": PNG_BYTES})
    app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
    from bot.platform.demo import seed_demo

    seed_demo(app.extensions["gradcert"])
    yield app, Chat(app), stub
    stub.stop()


def _pushed(stub, openid):
    return [
        r.json()["text"]["content"]
        for r in stub.calls("/cgi-bin/message/custom/send")
        if r.json()["touser"] == openid
    ]


def _photo(chat, openid, media):
    return chat.sim.reply_text(chat.post(*chat.sim.image(openid, media)).data)


def test_a_lost_certificate_filed_handled_and_told_each_step(wx):
    app, chat, stub = wx
    rt = app.extensions["gradcert"]
    _bind_graduate(chat)
    intro = chat.say("grad", "我的毕业证丢了")
    assert "学历证明书" in intro and "遗失声明" in intro and "费用" not in intro  # free by default
    deadline = (date.today() + timedelta(days=30)).isoformat()
    assert "身份证正反面" in chat.say("grad", deadline)
    assert "需要照片" in chat.say("grad", "完成")  # the photos are required
    assert "第1张" in _photo(chat, "grad", "id-front")
    assert "第2张" in _photo(chat, "grad", "statement")
    assert "怎么领取" in chat.say("grad", "完成")
    assert "邮寄地址" in chat.say("grad", "2")
    assert "太短" in chat.say("grad", "成都")
    asked = chat.say("grad", ADDRESS)
    assert "手机" in asked
    assert "邮件通知" in chat.say("grad", "1")
    assert "不像邮箱" in chat.say("grad", "lixiaohong at example")
    summary = chat.say("grad", "LiXiaohong＠Example.com")
    assert "邮寄（四川省成都市****）" in summary and "照片：2张" in summary
    assert "邮件通知：l***@example.com" in summary
    assert f"急用截止：{deadline}" in summary and "人民南路" not in summary
    filed = chat.say("grad", "1")
    assert "已提交！申请编号 GL" in filed and "已按急用处理" in filed
    chat.run_jobs()  # the photos are fetched
    with rt.sessions() as db:
        ticket = db.scalar(select(Appeal))
        lost = db.scalar(select(LostCertificate))
        assert ticket.category == "lost_certificate" and ticket.urgent
        assert ticket.urgent_deadline.isoformat() == deadline
        assert lost.delivery == "post" and lost.fee_yuan == 0
        assert "人民南路".encode() not in lost.address_enc  # sealed
        opened = rt.domain.cipher.open(lost.address_enc, lost.pii_key_version, b"address")
        assert opened == ADDRESS
        email = rt.domain.cipher.open(ticket.contact_email_enc, ticket.pii_key_version, b"email")
        assert email == "lixiaohong@example.com"
        stored = db.scalars(select(Attachment).where(Attachment.appeal_id == ticket.id)).all()
        assert [a.state for a in stored] == ["stored", "stored"]
        ticket_id, ticket_no = ticket.id, ticket.ticket_no
    assert ticket_no in chat.say("grad", "4")  # followed like an appeal

    make_staff(app)
    console = app.test_client()
    login(console)
    page = console.get(f"/console/tickets/{ticket_id}").get_data(as_text=True)
    assert "证书遗失申请" in page and "邮寄" in page and "四川省成都市****" in page
    assert "人民南路" not in page
    revealed = post(console, f"/console/tickets/{ticket_id}/reveal").get_data(as_text=True)
    assert ADDRESS in revealed
    for to, note in (
        ("under_review", "已收到材料，正在核对学籍"),
        ("resolved", "学历证明书已盖章，今天寄出，顺丰单号SF123"),
    ):
        res = post(console, f"/console/tickets/{ticket_id}/status", to=to, note=note)
        assert res.status_code == 303, res.get_data(as_text=True)
        chat.run_jobs()
    told = _pushed(stub, "grad")
    assert len(told) == 2
    assert f"你的证书遗失申请 {ticket_no} 状态更新：处理中" in told[0]
    assert "状态更新：已解决" in told[1] and "SF123" in told[1] and "学历证明书已办好" in told[1]


def test_pickup_with_a_fee_says_how_much_and_where_to_pay(make_app):
    app = make_app(GRADCERT_LOST_CERTIFICATE_FEE=20, GRADCERT_OFFICE_HOURS="工作日 9:00-17:00")
    from bot.platform.demo import seed_demo

    seed_demo(app.extensions["gradcert"])
    chat = Chat(app)
    _bind_graduate(chat)
    intro = chat.say("grad", "7")
    assert "费用20元" in intro and "行政楼A203（工作日 9:00-17:00）现场缴纳" in intro
    chat.say("grad", "没有")
    _photo(chat, "grad", "id-front")
    chat.say("grad", "完成")
    chat.say("grad", "1")  # pickup
    chat.say("grad", "13912345678")
    summary = chat.say("grad", "不需要")
    assert "到学校自取" in summary and "费用20元" in summary and "139****5678" in summary
    assert "邮件通知" not in summary
    filed = chat.say("grad", "1")
    assert "GL" in filed and "费用20元" in filed and "已按急用" not in filed
    with app.extensions["gradcert"].sessions() as db:
        lost = db.scalar(select(LostCertificate))
        assert lost.delivery == "pickup" and lost.address_enc is None and lost.fee_yuan == 20
        assert lost.appeal.contact_email_enc is None


def test_only_a_bound_graduate_asks(wx):
    app, chat, stub = wx
    reply = chat.say("stranger", "证书遗失")
    assert "先确认是你本人" in reply and "回复1绑定身份" in reply
    assert "请回复数字选择" in chat.say("stranger", "0")


@pytest.mark.parametrize(
    "typed", ["7", "证书遗失", "补办", "毕业证丢了", "毕业证书遗失了怎么办", "我要补办毕业证"]
)
def test_the_words_for_a_lost_certificate(wx, typed):
    app, chat, stub = wx
    assert "先确认是你本人" in chat.say("u-lost", typed)


def test_a_proxy_is_told_the_graduate_asks_themselves(proxy_wx):  # noqa: F811
    """A parent acting for the graduate cannot ask for the graduate's 学历证明书 (it replaces the
    graduate's own certificate): they are told who must ask, and nothing is filed."""
    from tests.bot.proxies.test_script import _acting_at_the_diploma

    app, chat, _stub = proxy_wx
    _acting_at_the_diploma(app, chat, ("lookup", "certificate", "appeal"))
    chat.say("mom", "0")
    reply = chat.say("mom", "7")
    assert "【代 李** 办理】" in reply and "要毕业生本人申请" in reply
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(Appeal)) is None
