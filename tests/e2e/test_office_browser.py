"""The registrar office's console pages in a real browser (Debian's chromium): a director uploads a
registrar file, reads the preview, confirms and sees the result while the RQ job runs; enters next
year's holidays (the warning banner goes); opens the dashboard, where every chart renders with data
from a seeded month. Screenshots of the import preview and the dashboard are saved under
tests/output/ (not committed)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")

import pyotp  # noqa: E402
from playwright.sync_api import expect  # noqa: E402
from rq import SimpleWorker  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bot.core import keys  # noqa: E402
from bot.dashboard.figures import SERVICE  # noqa: E402
from bot.platform import totp  # noqa: E402
from models import OfficeImport, StaffUser, Student  # noqa: E402
from tests.bot.platform.test_registrar import row, write_csv  # noqa: E402
from tests.dashboard_seed import seed_month  # noqa: E402
from tests.e2e.conftest import serve  # noqa: E402
from tests.handlers.console.test_appeals import PASSWORD, make_staff  # noqa: E402
from tests.handlers.console.test_calendar import YEAR_2027  # noqa: E402

OUTPUT = Path(__file__).resolve().parents[1] / "output"
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def office(make_app, tmp_path):
    """The app on a loopback port, with two clerks, a director and a month of service."""
    app = make_app()
    make_staff(app, "clerk1", name="王办事")
    make_staff(app, "clerk2", name="赵办事")
    make_staff(app, "director1", role="director", phone="13700000009", name="李主任")
    seed_month(app, datetime.now(UTC))
    with serve(app) as base:
        yield app, base


@pytest.fixture
def page(browser, office):
    """A desktop page that fails the test on a script or CSP error or on any request that leaves
    the console."""
    _app, base = office
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    fetched: list[str] = []
    refused = "the server responded with a status of 400"  # a form sent back with its error
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and refused not in msg.text else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: fetched.append(request.url))
    yield page
    context.close()
    assert not errors, errors
    assert fetched and all(url.startswith(f"{base}/console") for url in fetched), fetched


def sign_in(page, app, base: str, username: str) -> None:
    """Password, then the authenticator code where the role needs one (read from the enrolment
    page the first time, as a person typing the secret into an app would)."""
    page.goto(f"{base}/console/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    if page.url.endswith("/console/2fa"):
        rt = app.extensions["gradcert"]
        shown = page.locator("#totp-secret")
        with rt.sessions() as db:
            user = db.scalar(select(StaffUser).where(StaffUser.username == username))
            secret = (
                shown.inner_text().replace(" ", "")
                if shown.count()
                else totp.secret_of(rt.domain.cipher, user)
            )
        rt.redis.delete(keys.staff_totp_used(user.id))
        page.locator("#code").fill(pyotp.TOTP(secret).at(rt.domain.clock()))
        page.locator("#code").press("Enter")
    expect(page.get_by_role("button", name="退出")).to_be_visible()


def run_jobs(app) -> None:
    rt = app.extensions["gradcert"]
    with app.app_context():
        SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, logging_level="WARNING")


def test_a_director_imports_a_registrar_file(office, page, tmp_path):
    app, base = office
    rows = [row(f"N{i}", i) for i in range(1, 41)]
    rows += [
        row("N1", 1, source="east", major="会计", updated_at="2025-03-01 09:00:00"),
        row("N41", 41, id_number="110105198001011234"),
    ]
    path = write_csv(tmp_path / "学籍-2026届.csv", rows)
    sign_in(page, app, base, "director1")
    page.get_by_role("link", name="学籍导入").click()
    page.locator("#file").set_input_files(str(path))
    page.get_by_role("button", name="上传并预览").click()

    preview = page.locator("#import-preview")
    expect(preview).to_be_visible()
    expect(page.locator("#count-added")).to_have_text("40")
    expect(page.locator("#count-refused")).to_have_text("1")
    expect(page.locator("#refused-rows")).to_contain_text("校验位错误")
    expect(page.locator("#conflicts")).to_contain_text("主校区（main）的记录优先于分校区")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "import-preview.png"), full_page=True)

    page.get_by_role("button", name="确认导入").click()
    expect(page.locator("#import-progress")).to_be_visible()
    run_jobs(app)  # the RQ worker; the page refreshes itself every 2 s
    expect(page.locator("#import-result")).to_be_visible(timeout=8000)
    expect(page.locator("#import-state")).to_have_text("已完成")
    expect(page.locator("#count-added")).to_have_text("40")
    page.screenshot(path=str(OUTPUT / "import-result.png"), full_page=True)
    with app.extensions["gradcert"].sessions() as db:
        assert len(db.scalars(select(Student).where(Student.student_no.like("N%"))).all()) == 40
        assert db.scalars(select(OfficeImport)).one().sealed_file is None


def test_a_director_adds_next_years_holidays(office, page):
    app, base = office
    sign_in(page, app, base, "director1")
    banner = page.locator("#calendar-notice")
    expect(banner).to_contain_text("节假日日历只到 2026-12-31")
    page.get_by_role("link", name="节假日").click()
    page.get_by_label("年份", exact=True).select_option("2027")
    page.get_by_label("放假和调休上班日").fill(
        YEAR_2027.replace("2027-01-01~2027-01-03", "2027-01-02")
    )
    page.get_by_role("button", name="检查并保存").click()
    expect(page.locator("#calendar-error")).to_contain_text("缺少法定节假日：2027-01-01（元旦）")
    page.get_by_label("放假和调休上班日").fill(YEAR_2027)
    page.get_by_role("button", name="检查并保存").click()
    expect(page.get_by_role("status")).to_contain_text("已保存 2027 年安排")
    expect(page.locator("#covered-until")).to_have_text("2027-12-31")
    expect(banner).to_have_count(0)


def test_the_dashboard_draws_every_chart_from_a_seeded_month(office, page):
    app, base = office
    sign_in(page, app, base, "director1")
    page.get_by_role("link", name="数据看板").click()
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(len(SERVICE) + 1)
    for key in (*SERVICE, "reviewers"):
        chart = page.locator(f'svg[data-figure="{key}"]')
        box = chart.bounding_box()
        assert box and box["width"] > 400 and box["height"] > 60, key
        marks = chart.locator("rect[height], circle").count()
        assert marks > 2, key  # bars or points, not only axes
        summary = page.locator(f"#figure-{key} .summary").inner_text()
        assert re.search(r"[1-9]", summary), (key, summary)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#figure-sms").get_by_role("link", name="下载 CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.startswith("日期,发送成功,发送失败") and len(text.splitlines()) == 31

    page.get_by_label("开始日期").fill("2020-01-01")
    page.get_by_label("结束日期").fill("2020-01-31")
    page.get_by_role("button", name="查看").click()
    expect(page.locator("#figure-sms .summary")).to_have_text("成功 0 条，失败 0 条")
