"""The staff console in a real browser (Debian's chromium): sign in, open the queue and a ticket,
reveal personal data, ask for more information, and how the ticket page looks at 1280x900; review
a parent's notarised authorisation in the proxy queue."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import expect  # noqa: E402
from sqlalchemy import select  # noqa: E402

from models import Attachment, Student  # noqa: E402
from tests.conftest import APP_ID, Chat  # noqa: E402
from tests.e2e.conftest import serve  # noqa: E402
from tests.e2e.test_console_accounts_browser import enrol_and_sign_in  # noqa: E402
from tests.handlers.console.test_appeals import PASSWORD, file_ticket, make_staff  # noqa: E402
from tests.handlers.console.test_proxies import NOTARISED, make_proxy  # noqa: E402
from tests.stubs import wechat_api_stub  # noqa: E402

DESKTOP = {"width": 1280, "height": 900}
SHOT_COPY = Path("/tmp/console-ticket-1280.png")  # kept after the run for a look by eye
PROXY_SHOT = Path("/tmp/console-proxy-1280.png")


def _loaded_width(page, selector: str) -> int:
    """The image's natural width once the browser has finished fetching it. A thumbnail has a fixed
    CSS box, so it counts as visible before its bytes arrive (and the ticket page loads it lazily)."""
    image = page.locator(selector).first
    image.scroll_into_view_if_needed()
    page.wait_for_function(f"document.querySelector({selector!r}).complete")
    return image.evaluate("img => img.naturalWidth")


def _photo() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 320), "#dfe7f1")
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 30, 450, 290), outline="#0f3d6e", width=6)
    draw.line((30, 30, 450, 290), fill="#0f3d6e", width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def wechat_api():
    stub = wechat_api_stub(APP_ID, "s3cret")
    yield stub
    stub.stop()


@pytest.fixture
def served(make_app, demo, tmp_path, wechat_api):
    """The app on a real loopback port with a clerk, a director and one ticket of 张三 with a photo;
    the WeChat API is a local stub."""
    folder = tmp_path / "attachments"
    app = make_app(
        GRADCERT_ATTACHMENT_DIR=str(folder),
        WECHAT_APP_SECRET="s3cret",
        WECHAT_API_BASE=wechat_api.url,
    )
    rt = app.extensions["gradcert"]
    make_staff(app)
    make_staff(app, username="director1", role="director", phone="13700000009", name="李主任")
    contact, version = rt.domain.cipher.seal("13912345678", b"phone")
    appeal_id, ticket_no = file_ticket(
        app,
        student_no=demo["张三"][0],
        urgent=True,
        category="name_change",
        contact_phone_enc=contact,
        pii_key_version=version,
        user_key="filer-1",
    )
    (folder / str(appeal_id)).mkdir(parents=True)
    (folder / str(appeal_id) / "a.png").write_bytes(_photo())
    with rt.sessions() as db:
        db.add_all(
            [
                Attachment(
                    appeal_id=appeal_id,
                    media_id="m1",
                    state="stored",
                    storage_key=f"{appeal_id}/a.png",
                    content_type="image/png",
                ),
                Attachment(appeal_id=appeal_id, media_id="m2", state="pending"),
            ]
        )
        assert db.scalar(select(Student).where(Student.student_no == demo["张三"][0]))
        db.commit()
    with serve(app) as base:
        yield app, base, ticket_no


@pytest.fixture
def page(browser, served):
    """A desktop page that fails the test on a script or CSP error, or on any request that leaves
    the console (no external assets)."""
    _app, base, _ticket = served
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    fetched: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: fetched.append(request.url))
    yield page
    context.close()
    assert not errors, errors
    assert fetched and all(url.startswith(f"{base}/console") for url in fetched), fetched


def test_clerk_works_a_ticket_end_to_end(served, page, demo, tmp_path):
    _app, base, ticket_no = served
    _no, _name, id_number, phone, _campus = demo["张三"]
    page.goto(f"{base}/console/")
    page.get_by_label("用户名").fill("clerk1")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="工单队列")).to_be_visible()
    row = page.locator("#queue tbody tr").first
    expect(row).to_contain_text(ticket_no)
    expect(row).to_contain_text("加急")
    page.get_by_role("link", name=ticket_no).click()

    expect(page.locator("#p-id")).to_have_text(id_number[:4] + "*" * 10 + id_number[-4:])
    expect(page.locator("#p-name")).to_have_text("张*")
    expect(page.get_by_role("img", name="附件 1（点击查看原图）")).to_be_visible()
    assert _loaded_width(page, ".thumbs img") == 480
    page.get_by_role("button", name="显示").click()
    expect(page.locator("#p-id")).to_have_text(id_number)
    expect(page.locator("#p-phone")).to_have_text(phone)
    expect(page.locator("#p-contact")).to_have_text("13912345678")
    expect(page.locator("#revealed-note")).to_be_visible()

    page.get_by_label("需要补充材料").check()
    page.get_by_label("说明（必填，会发送给申请人，不超过 500 字）").fill(
        "请补充派出所出具的姓名变更证明照片"
    )
    page.get_by_role("button", name="提交并通知申请人").click()
    expect(page.locator(".flash")).to_contain_text("已改为“需要补充材料”")
    expect(page.locator("#ticket-status")).to_have_text("需要补充材料")
    last = page.locator("#timeline li").last
    expect(last).to_contain_text("王办事")
    expect(last).to_contain_text("已提交 → 需要补充材料")
    expect(last).to_contain_text("请补充派出所出具的姓名变更证明照片")
    expect(page.locator("#p-id")).not_to_have_text(id_number)  # masked again after the action
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    shot = tmp_path / "console-ticket-1280.png"
    page.screenshot(path=str(shot), full_page=True)
    SHOT_COPY.write_bytes(shot.read_bytes())
    assert shot.stat().st_size > 10_000


def test_the_filer_is_told_answers_in_the_chat_and_the_ticket_returns_to_review(
    served, page, wechat_api
):
    app, base, ticket_no = served
    _sign_in(page, base, "clerk1")
    page.get_by_role("link", name=ticket_no).click()
    page.get_by_label("需要补充材料").check()
    page.get_by_label("说明（必填，会发送给申请人，不超过 500 字）").fill("请补充姓名变更证明")
    page.get_by_role("button", name="提交并通知申请人").click()
    expect(page.locator("#ticket-status")).to_have_text("需要补充材料")
    chat = Chat(app)
    chat.run_jobs()  # the RQ job pushes the status message through the (stubbed) WeChat API
    [sent] = wechat_api.calls("/cgi-bin/message/custom/send")
    assert (
        sent.json()["touser"] == "filer-1"
        and "请补充姓名变更证明" in sent.json()["text"]["content"]
    )
    assert "已补充到异议申请" in chat.say("filer-1", "证明已经办好了，明天拍照发来")
    page.reload()
    expect(page.locator("#ticket-status")).to_have_text("处理中")
    expect(page.locator("#timeline")).to_contain_text("证明已经办好了")

    probe = page.context.new_page()  # the same session; its expected 403/400 are not page errors
    assert probe.goto(f"{base}/console/export").status == 403  # a clerk cannot export
    posted = probe.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', body: new URLSearchParams({note: 'x'})})).status""",
        f"{base}/console/tickets/1/note",
    )
    assert posted == 400  # a form without the CSRF token is refused


def test_the_audit_log_shows_the_show_personal_data_click(served, browser):
    _app, base, ticket_no = served
    clerk = browser.new_context(viewport=DESKTOP).new_page()
    _sign_in(clerk, base, "clerk1")
    clerk.get_by_role("link", name=ticket_no).click()
    clerk.get_by_role("button", name="显示").click()
    director = browser.new_context(viewport=DESKTOP).new_page()
    _sign_in(director, base, "director1")
    director.goto(f"{base}/console/audit")
    rows = director.locator("table tbody tr")
    expect(rows.filter(has_text="显示个人信息").filter(has_text=ticket_no).first).to_be_visible()


def _sign_in(page, base, username):
    page.goto(f"{base}/console/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    if "/console/2fa" in page.url:  # a director enrols an authenticator on first sign-in
        enrol_and_sign_in(page)
    expect(
        page.get_by_role("link", name="退出").or_(page.get_by_role("button", name="退出"))
    ).to_be_visible()


def test_queue_on_a_tablet_needs_no_sideways_scrolling_of_the_page(served, browser):
    _app, base, ticket_no = served
    context = browser.new_context(viewport={"width": 820, "height": 1180}, has_touch=True)
    page = context.new_page()
    page.goto(f"{base}/console/login")
    page.get_by_label("用户名").fill("clerk1")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_label("密码").press("Enter")
    expect(page.locator("#queue")).to_contain_text(ticket_no)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path="/tmp/console-queue-820.png", full_page=True)
    context.close()


def test_clerk_approves_a_parents_authorisation(served, page, demo, tmp_path):
    app, base, _ticket = served
    proxy_id = make_proxy(app, demo["张三"][0], folder=tmp_path / "attachments", photo=_photo())
    page.goto(f"{base}/console/login")
    page.get_by_label("用户名").fill("clerk1")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="代办审核").click()
    row = page.locator("#proxies tbody tr").first
    expect(row).to_contain_text("待审核")
    expect(row).to_contain_text("张*")
    page.screenshot(path="/tmp/console-proxies-1280.png", full_page=True)
    page.get_by_role("link", name=f"#{proxy_id}").click()

    expect(page.locator("#notarised-no")).to_have_text(NOTARISED)
    expect(page.get_by_role("img", name="公证委托书照片 1（点击查看原图）")).to_be_visible()
    assert _loaded_width(page, ".photos img") == 480
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(PROXY_SHOT), full_page=True)

    expect(page.get_by_label("查询毕业证书")).to_be_checked()
    page.get_by_label("通过说明（必填，仅内部记录）").fill("已与公证处电话核实")
    page.get_by_role("button", name="通过，代办生效").click()
    expect(page.locator(".flash")).to_contain_text(
        "已通过，代办已生效。已通知代办人（毕业生没有绑定账号，未通知）"
    )
    expect(page.locator("#proxy-state")).to_have_text("代办中")
    expect(page.locator("#result")).to_contain_text("已与公证处电话核实")
    page.screenshot(path="/tmp/console-proxy-approved-1280.png", full_page=True)
    assert (
        app.extensions["gradcert"].queue.count == 1
    )  # the parent is told (the graduate has no account)
