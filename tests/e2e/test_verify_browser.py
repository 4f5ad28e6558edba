"""The verification page in a real browser (Debian's chromium): states, the language toggle, the form,
and how it looks on a 360-pixel phone."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import expect  # noqa: E402

from tests.e2e.conftest import serve  # noqa: E402
from tests.handlers.web.test_verify import UNKNOWN_CODE, make_certificate  # noqa: E402

PHONE = {"width": 360, "height": 740}
BADGES = {
    "valid": ("有效", "Valid"),
    "expired": ("已过期", "Expired"),
    "closed": ("已关闭", "Closed"),
    "revoked": ("已撤销", "Revoked"),
    "unknown": ("查无此证明", "Not found"),
}


@pytest.fixture
def served(make_app):
    """The app on a real loopback port: (app, base URL)."""
    app = make_app(VERIFY_MIN_SECONDS=0)
    with serve(app) as base:
        yield app, base


@pytest.fixture
def page(browser, served):
    """A phone-sized page that fails the test on a script or CSP error, or on any request for
    something other than the verification pages themselves (no external assets, no favicon)."""
    _app, base = served
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    errors: list[str] = []
    fetched: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: fetched.append(request.url))
    yield page
    context.close()
    # an unknown code answers 404 and a malformed one 400, which chromium reports on the console
    assert not [
        e for e in errors if not e.startswith("Failed to load resource: the server responded")
    ], errors
    assert fetched and all(url.startswith(f"{base}/v") for url in fetched), fetched


def status_text(page) -> str:
    return page.locator("#status").inner_text()


@pytest.mark.parametrize("state", list(BADGES))
def test_each_state_shows_its_status(served, page, state):
    app, base = served
    code = UNKNOWN_CODE if state == "unknown" else make_certificate(app, state)
    page.goto(f"{base}/v/{code}")
    zh, en = BADGES[state]
    expect(page.locator("#status")).to_be_visible()
    assert zh in status_text(page) and en not in status_text(page)
    assert page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"
    )  # no sideways scroll
    if state in ("unknown", "closed"):
        expect(page.locator("#f-name")).to_have_count(0)
    else:
        expect(page.locator("#f-name")).to_have_text("张三")


def test_english_toggle_switches_labels_and_is_remembered(served, page):
    app, base = served
    code = make_certificate(app)
    page.goto(f"{base}/v/{code}")
    expect(page.get_by_text("证书编号", exact=True)).to_be_visible()
    expect(page.get_by_text("Certificate no.", exact=True)).to_be_hidden()
    page.get_by_role("link", name="English").click()
    assert "Valid" in status_text(page) and "有效" not in status_text(page)
    expect(page.get_by_text("Certificate no.", exact=True)).to_be_visible()
    expect(page.get_by_text("证书编号", exact=True)).to_be_hidden()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.reload()  # the choice persists (localStorage)
    expect(page.get_by_text("Certificate no.", exact=True)).to_be_visible()
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_text("证书编号", exact=True)).to_be_visible()
    page.goto(f"{base}/v/{code}?lang=en")
    assert "Valid" in status_text(page)


def test_form_takes_a_typed_code(served, page):
    app, base = served
    code = make_certificate(app)
    page.goto(f"{base}/v")
    page.locator("#code").fill(" " + "-".join(code[i : i + 4] for i in range(0, 16, 4)).lower())
    page.get_by_role("button").click()
    page.wait_for_url(f"{base}/v/{code}")
    assert "有效" in status_text(page)
    page.goto(f"{base}/v")
    page.locator("#code").fill("abc")
    page.locator("#code").press("Enter")
    expect(page.locator("#code-error")).to_be_visible()


def test_phone_screenshot_of_a_valid_certificate(served, page, tmp_path):
    app, base = served
    code = make_certificate(app)
    page.goto(f"{base}/v/{code}")
    shot = tmp_path / "verify-valid-360.png"
    page.screenshot(path=str(shot))
    assert shot.exists() and shot.stat().st_size > 0
