"""A lost-certificate request in a real browser (Debian's chromium): filed by a graduate through the
WeChat callback (photos, urgent date, post), handled by a clerk in the console (the delivery and
the masked address shown, revealed on demand), and the graduate told of each step by
customer-service message."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import expect  # noqa: E402

from tests.bot.proxies.test_script import _bind_graduate  # noqa: E402
from tests.conftest import APP_ID, Chat  # noqa: E402
from tests.e2e.conftest import serve  # noqa: E402
from tests.e2e.test_console_browser import DESKTOP, _photo, _sign_in  # noqa: E402
from tests.handlers.console.test_appeals import make_staff  # noqa: E402
from tests.stubs import add_media, wechat_api_stub  # noqa: E402

ADDRESS = "四川省成都市武侯区人民南路四段9号 李小红收"


@pytest.fixture
def filed(make_app, tmp_path):
    """A graduate's lost-certificate request filed in the chat, its photos fetched; the app served."""
    stub = wechat_api_stub(APP_ID, "s3cret")
    add_media(stub, {"id-card": _photo()})
    app = make_app(
        GRADCERT_ATTACHMENT_DIR=str(tmp_path / "attachments"),
        WECHAT_APP_SECRET="s3cret",
        WECHAT_API_BASE=stub.url,
    )
    from bot.platform.demo import seed_demo

    seed_demo(app.extensions["gradcert"])
    make_staff(app)
    chat = Chat(app)
    _bind_graduate(chat)
    chat.say("grad", "7")
    chat.say("grad", (date.today() + timedelta(days=20)).isoformat())
    chat.post(
        *chat.sim.image("grad", "id-card")
    )  # one photo: SQLite serves one audited read at a time
    chat.say("grad", "完成")
    chat.say("grad", "2")
    chat.say("grad", ADDRESS)
    chat.say("grad", "1")  # the phone on file
    chat.say("grad", "1")  # no e-mail
    told = chat.say("grad", "1")
    assert "已提交！申请编号 GL" in told
    ticket_no = told.split("申请编号 ")[1].split("。")[0]
    chat.run_jobs()
    with serve(app) as base:
        yield chat, stub, base, ticket_no
    stub.stop()


def _pushed(stub) -> list[str]:
    return [
        r.json()["text"]["content"]
        for r in stub.calls("/cgi-bin/message/custom/send")
        if r.json()["touser"] == "grad"
    ]


def test_a_clerk_handles_a_lost_certificate_and_the_graduate_is_told_each_step(filed, browser):
    chat, stub, base, ticket_no = filed
    page = browser.new_context(viewport=DESKTOP).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base, "clerk1")
    row = page.locator("#queue tbody tr").filter(has_text=ticket_no)
    expect(row).to_contain_text("证书遗失，补办学历证明书")
    expect(row).to_contain_text("加急")
    page.get_by_role("link", name=ticket_no).click()
    expect(page.get_by_role("heading", name=f"证书遗失申请 {ticket_no}")).to_be_visible()
    expect(page.locator("#lost-delivery")).to_have_text("邮寄")
    expect(page.locator("#lost-address")).to_have_text("四川省成都市****")
    expect(page.locator("#lost-fee")).to_have_text("免费")
    expect(page.locator(".thumbs img")).to_have_count(1)
    page.get_by_role("button", name="显示").click()
    expect(page.locator("#lost-address")).to_have_text(ADDRESS)

    steps = (
        ("处理中", "材料齐全，正在核对学籍并打印学历证明书"),
        ("已解决", "学历证明书已盖章寄出，顺丰单号SF1234567890"),
    )
    for status, note in steps:
        page.get_by_label(status, exact=True).check()
        page.get_by_label("说明（必填，会发送给申请人，不超过 500 字）").fill(note)
        page.get_by_role("button", name="提交并通知申请人").click()
        expect(page.locator("#ticket-status")).to_have_text(status)
        expect(page.locator("#lost-address")).to_have_text("四川省成都市****")  # masked again
        chat.run_jobs()
    told = _pushed(stub)
    assert len(told) == 2, told
    assert f"你的证书遗失申请 {ticket_no} 状态更新：处理中" in told[0]
    assert "正在核对学籍" in told[0]
    assert "状态更新：已解决" in told[1] and "SF1234567890" in told[1]
    assert "学历证明书已办好" in told[1]
    assert ticket_no in chat.say("grad", "4")
    assert not errors, errors
