"""Staff accounts in a real browser (Debian's chromium): a director enrols an authenticator from
the QR page and signs in with it, hands a clerk a one-time reset link, an auditor reads the anomaly
report and cannot see personal data, and a clerk reaches no director page."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")

import pyotp  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from models import AuditEvent, utcnow  # noqa: E402
from tests.e2e.conftest import serve  # noqa: E402
from tests.handlers.console.test_appeals import PASSWORD, file_ticket, make_staff  # noqa: E402

DESKTOP = {"width": 1280, "height": 900}
SHOTS = Path("/tmp/gradcert-e2e-15a")  # kept after the run for a look by eye; not committed
NEW_PASSWORD = "a brand new passphrase"


def enrol_and_sign_in(page) -> str:
    """On the enrolment page: read the secret shown as text, type the authenticator's code."""
    expect(page.get_by_role("heading", name="绑定身份验证器")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("6 位验证码").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="确认绑定并登录").click()
    return secret


def _password(page, base, username, password=PASSWORD):
    page.goto(f"{base}/console/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


@pytest.fixture
def served(make_app, demo):
    """The app on a loopback port: a director, a clerk, an auditor and one ticket of 张三."""
    app = make_app()
    rt = app.extensions["gradcert"]
    make_staff(app)
    make_staff(app, "director1", "director", "13700000009", name="李主任")
    make_staff(app, "auditor1", "auditor", "13700000008", name="周纪检")
    contact, version = rt.domain.cipher.seal("13912345678", b"phone")
    file_ticket(app, student_no=demo["张三"][0], contact_phone_enc=contact, pii_key_version=version)
    with serve(app) as base:
        yield app, base


@pytest.fixture
def context(browser, served):
    """A desktop context that fails the test on a script or CSP error (the 400 and 403 answers the
    tests provoke on purpose aside) and on any request that leaves the console."""
    _app, base = served
    context = browser.new_context(viewport=DESKTOP)
    errors: list[str] = []
    fetched: list[str] = []

    def watch(page):
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text)
                if msg.type == "error" and not re.search(r"status of 40[03] ", msg.text)
                else None
            ),
        )
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda request: fetched.append(request.url))

    context.on("page", watch)
    yield context
    context.close()
    assert not errors, errors
    assert fetched and all(url.startswith(f"{base}/console") for url in fetched), fetched


def test_a_director_enrols_an_authenticator_and_signs_in_with_it(served, context):
    app, base = served
    page = context.new_page()
    _password(page, base, "director1")
    expect(page.get_by_role("heading", name="绑定身份验证器")).to_be_visible()
    qr = page.get_by_role("img", name="身份验证器二维码")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth") > 0
    expect(page.locator("#totp-secret")).to_have_text(re.compile(r"^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$"))
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "totp-enrol-1280.png"), full_page=True)
    secret = enrol_and_sign_in(page)
    expect(page.get_by_role("heading", name="工单队列")).to_be_visible()
    page.get_by_role("button", name="退出").click()

    _password(page, base, "director1")
    expect(page.get_by_role("heading", name="二次验证")).to_be_visible()
    expect(page.locator("#totp-secret")).to_have_count(0)  # the secret is shown only once
    page.get_by_label("6 位验证码").fill(
        "123456" if pyotp.TOTP(secret).now() != "123456" else "654321"
    )
    page.get_by_role("button", name="验证并登录").click()
    expect(page.locator("#code-error")).to_contain_text("验证码不正确")
    # the code of the next 30 s step: the one typed at enrolment may not be used twice
    page.get_by_label("6 位验证码").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="验证并登录").click()
    expect(page.get_by_role("heading", name="工单队列")).to_be_visible()
    page.get_by_role("link", name="我的账号").click()
    expect(page.locator("#totp-state")).to_contain_text("已绑定")
    expect(page.locator("#last-login")).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"))


def test_a_director_resets_a_clerks_password(served, context, browser):
    app, base = served
    page = context.new_page()
    _password(page, base, "director1")
    enrol_and_sign_in(page)
    page.get_by_role("link", name="用户管理").click()
    page.get_by_role("button", name="重置 clerk1 的密码").click()
    expect(page.locator("#reset-issued")).to_contain_text("clerk1 的重置密码链接")
    nav = page.get_by_role("navigation", name="主菜单")
    expect(nav.get_by_role("link", name="用户管理")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="我的账号")).not_to_have_attribute("aria-current", "page")
    link = page.locator("#reset-link").inner_text()
    assert link.startswith(f"{base}/console/reset/") and PASSWORD not in page.content()
    page.screenshot(path=str(SHOTS / "reset-link-1280.png"), full_page=True)

    clerk = context.browser.new_context(viewport=DESKTOP).new_page()  # the clerk's own browser
    clerk.goto(link)
    expect(clerk.get_by_role("heading", name="重设密码")).to_be_visible()
    clerk.get_by_label("新密码", exact=True).fill(NEW_PASSWORD)
    clerk.get_by_label("再输入一次新密码").fill(NEW_PASSWORD)
    clerk.get_by_role("button", name="设置新密码").click()
    expect(clerk.locator(".flash")).to_contain_text("新密码已设置")
    _password(clerk, base, "clerk1", PASSWORD)
    expect(clerk.locator("#login-error")).to_contain_text("用户名或密码不正确")
    _password(clerk, base, "clerk1", NEW_PASSWORD)
    expect(clerk.get_by_role("heading", name="工单队列")).to_be_visible()
    clerk.goto(link)
    expect(clerk.locator("#reset-error")).to_contain_text("已使用或已过期")
    clerk.context.close()


def test_an_auditor_reads_the_anomaly_report_and_cannot_reveal_personal_data(served, context, demo):
    app, base = served
    _no, _name, id_number, phone, _campus = demo["张三"]
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:  # a clerk who revealed far more than usual this week
        db.add_all(
            [AuditEvent(at=utcnow(), actor_staff="clerk1", action="reveal_pii") for _ in range(30)]
        )
        db.commit()
    page = context.new_page()
    _password(page, base, "auditor1")
    enrol_and_sign_in(page)
    expect(page.get_by_role("heading", name="工作人员操作异常报告")).to_be_visible()
    page.get_by_label("报告周（周一至周日，北京时间）").select_option(index=0)  # this week so far
    page.get_by_role("button", name="查看").click()
    reveals = page.locator("#section-reveals tbody tr").first
    expect(reveals).to_contain_text("clerk1")
    expect(reveals).to_contain_text("30")
    expect(reveals).to_contain_text("需关注")
    page.screenshot(path=str(SHOTS / "anomalies-1280.png"), full_page=True)
    nav = page.get_by_role("navigation", name="主菜单")
    expect(nav.get_by_role("link", name="工单队列")).to_have_count(0)
    expect(nav.get_by_role("link", name="审计日志")).to_be_visible()

    nav.get_by_role("link", name="审计日志").click()
    page.get_by_label("操作").select_option(label="显示个人信息")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("#audit-total")).to_contain_text("共 30 条")
    assert page.goto(f"{base}/console/tickets/1").status == 403
    assert page.goto(f"{base}/console/attachments/1").status == 403
    page.goto(f"{base}/console/audit")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    posted = page.evaluate(
        """async ([url, token]) => (await fetch(url, {method: 'POST',
             body: new URLSearchParams({csrf_token: token})})).status""",
        [f"{base}/console/tickets/1/reveal", csrf],
    )
    assert posted == 403
    for html in (page.content(),):
        assert id_number not in html and phone not in html and "13912345678" not in html


def test_a_clerk_reaches_no_director_page(served, context):
    app, base = served
    page = context.new_page()
    _password(page, base, "clerk1")
    expect(page.get_by_role("heading", name="工单队列")).to_be_visible()
    nav = page.get_by_role("navigation", name="主菜单")
    for name in ("导出", "用户管理", "审计日志", "异常报告", "数据看板", "学籍导入"):
        expect(nav.get_by_role("link", name=name)).to_have_count(0)
    pages = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/console/")
        and "GET" in rule.methods
        and "<" not in rule.rule
        and rule.endpoint.split(".")[1] in ("admin", "audit", "dashboard", "imports", "calendar")
    ]
    assert {"/console/users", "/console/audit", "/console/anomalies", "/console/export"} <= set(
        pages
    )
    for url in pages:
        answer = page.goto(f"{base}{url}")
        assert answer.status == 403, url
        expect(page.locator("body")).not_to_contain_text("Traceback")
