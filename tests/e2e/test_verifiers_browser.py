"""Directors in a real browser (Debian's chromium): issue an organisation's verification key (shown
once), see its use, revoke it; and read the registrar sync's status page. The organisation's
requests go to the same served app over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import expect  # noqa: E402

from tests.e2e.conftest import serve  # noqa: E402
from tests.e2e.test_console_browser import _sign_in  # noqa: E402
from tests.handlers.console.test_appeals import make_staff  # noqa: E402


def verify(base: str, key: str, code: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base}/api/v1/verifications",
        data=json.dumps({"code": code}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.fixture
def served(make_app):
    app = make_app()
    make_staff(app, username="director1", role="director", phone="13700000009", name="李主任")
    with serve(app) as base:
        yield app, base


def test_a_director_issues_a_key_the_organisation_uses_it_and_the_director_revokes_it(
    served, browser
):
    _app, base = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _sign_in(page, base, "director1")  # a director enrols an authenticator on first sign-in
    page.get_by_role("link", name="查验单位").click()
    expect(page.get_by_role("heading", name="查验单位")).to_be_visible()
    page.get_by_label("单位名称").fill("星辰科技有限公司")
    page.get_by_label("联系人及电话/邮箱").fill("王经理 13800001111")
    page.get_by_label("每日查验次数").fill("50")
    page.get_by_role("button", name="发放").click()
    key = page.locator("#issued-key").inner_text().strip()
    assert key.startswith("gcv_") and len(key) > 40
    expect(page.locator("#issued")).to_contain_text("只显示这一次")

    status, answer = verify(base, key, "ABCD" * 4)
    assert status == 404 and answer["status"] == "unknown"

    page.reload()  # sends the form again: nothing more is issued, the list says why
    expect(page.locator(".flash")).to_contain_text("已经提交过")
    expect(page.locator("#keys tbody tr")).to_have_count(1)
    row = page.locator("#keys tbody tr").first
    expect(row).to_contain_text("星辰科技有限公司")
    expect(row).to_contain_text("1/50")
    expect(page.locator("body")).not_to_contain_text(key)
    row.get_by_role("button", name="停用 星辰科技有限公司 的密钥").click()
    expect(page.locator(".flash")).to_contain_text("已停用")
    expect(page.locator("#keys tbody tr").first).to_contain_text("已停用")
    status, answer = verify(base, key, "ABCD" * 4)
    assert status == 401 and answer["error"]["code"] == "key_revoked"

    page.get_by_role("link", name="学籍同步").click()
    expect(page.locator("#sync-off")).to_be_visible()
    expect(page.locator("#last-run")).to_have_text("从未运行")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
    assert not errors, errors
