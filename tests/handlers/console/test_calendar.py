"""The holiday calendar in the console: a director enters next year's arrangement, it is checked
line by line, audited, used for due dates by every worker within its cache time (no restart), the
warning banner goes once the coming year is covered; clerks cannot edit it."""

from __future__ import annotations

import time as clock
from datetime import date, datetime, time, timezone

import pytest
from sqlalchemy import select

from bot.platform import workdays
from models import AuditEvent, CalendarDay, CalendarYear
from tests.handlers.console.test_appeals import login, make_staff, token

YEAR_2027 = """2027-01-01~2027-01-03 休 元旦
2027-02-05~2027-02-12 休 春节
2027-02-14 班
2027-04-03～2027-04-05 休 清明节
2027-05-01~2027-05-05 休 劳动节
2027-06-09 休 端午节
2027-09-15 休 中秋节
2027-09-26 班
2027/10/1~2027/10/7 休 国庆节
2027-10-09 上班
"""


@pytest.fixture
def office(make_app):
    app = make_app()
    rt = app.extensions["gradcert"]
    rt.domain.clock = lambda: datetime.combine(date(2026, 11, 25), time(4), timezone.utc)
    make_staff(app, "clerk1")
    make_staff(app, "director1", role="director", phone="13700000009", name="李主任")
    director = app.test_client()
    login(director, "director1")
    return app, director


def save(client, year, days):
    return client.post(
        "/console/calendar", data={"csrf_token": token(client), "year": year, "days": days}
    )


def test_a_director_enters_next_year_and_the_banner_goes(office):
    app, director = office
    page = director.get("/console/calendar").get_data(as_text=True)
    assert 'id="calendar-notice"' in page and "录入 2027 年放假和调休安排" in page
    assert not workdays.is_working_day(date(2026, 10, 5))  # the file's 2026 is prefilled below
    assert "2026-10-05 休" in director.get("/console/calendar?year=2026").get_data(as_text=True)
    assert workdays.is_working_day(date(2027, 2, 8))  # before: Spring Festival not known

    res = save(director, "2027", YEAR_2027)
    assert res.status_code == 303
    page = director.get(res.headers["Location"]).get_data(as_text=True)
    assert "已保存 2027 年安排：放假 28 天，调休上班 3 天" in page
    assert 'id="calendar-notice"' not in page and 'id="covered-until">2027-12-31<' in page
    assert not workdays.is_working_day(date(2027, 2, 8))
    assert workdays.is_working_day(date(2027, 2, 14))  # a Sunday worked
    assert workdays.add_working_days(date(2027, 2, 4), 2) == date(2027, 2, 15)
    with app.extensions["gradcert"].sessions() as db:
        assert db.get(CalendarYear, 2027).updated_by == "director1"
        assert db.get(CalendarDay, date(2027, 2, 5)).name == "春节"
        row = db.scalars(select(AuditEvent).where(AuditEvent.action == "calendar_year")).one()
        assert row.actor_staff == "director1" and "2027 holidays=28 workdays=3" in row.detail
    assert "2027-02-14 班" in director.get("/console/calendar?year=2027").get_data(as_text=True)

    # a correction replaces the whole year: the 端午节 day moved
    res = save(director, "2027", YEAR_2027.replace("2027-06-09 休", "2027-06-10 休"))
    assert res.status_code == 303
    assert workdays.is_working_day(date(2027, 6, 9)) and not workdays.is_working_day(
        date(2027, 6, 10)
    )


@pytest.mark.parametrize(
    "year, days, message",
    [
        (
            "2027",
            YEAR_2027.replace("2027-01-01~2027-01-03 休 元旦\n", ""),
            "缺少法定节假日：2027-01-01（元旦）",
        ),
        ("2027", YEAR_2027 + "2027-03-03 班\n", "是工作日，调休上班日只能是周六或周日"),
        ("2027", YEAR_2027 + "2027-02-14 休\n", "既是假日又是上班日"),
        ("2027", YEAR_2027 + "明年春节\n", "看不懂"),
        ("2027", YEAR_2027 + "2027-02-30 休\n", "日期不存在"),
        ("2027", YEAR_2027 + "2028-01-01 休\n", "不在 2027 年"),
        ("2031", YEAR_2027.replace("2027", "2031"), "只能录入 2025–2028 年"),
        ("2027", YEAR_2027 + "2027-07-01 周末\n", "应为 休 或 班"),
    ],
)
def test_a_wrong_arrangement_is_refused_with_the_line(office, year, days, message):
    app, director = office
    res = save(director, year, days)
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and message in html, html[html.find("calendar-error") :][:300]
    assert "2027-02-05~2027-02-12 休 春节" in html or year == "2031"  # what was typed is kept
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(CalendarYear)) is None
        assert db.scalars(
            select(AuditEvent.result).where(AuditEvent.action == "calendar_year")
        ).all() == ["refused"]


def test_every_worker_sees_an_edit_within_its_cache_time(make_app, monkeypatch):
    """Another process saved 2027 in SQL: this one reads it when its cache runs out."""
    app = make_app(GRADCERT_CALENDAR_CACHE_SECONDS=30)
    assert workdays.active().covered_until == date(2026, 12, 31)  # read (and cached) now
    with app.extensions["gradcert"].sessions() as db:
        db.add(CalendarYear(year=2027, updated_by="director1"))
        db.flush()
        db.add(CalendarDay(day=date(2027, 3, 3), year=2027, kind="holiday", name="校庆"))
        db.commit()
    assert workdays.is_working_day(date(2027, 3, 3))  # still the cached calendar
    later = clock.monotonic() + 31
    monkeypatch.setattr(workdays.time, "monotonic", lambda: later)
    assert not workdays.is_working_day(date(2027, 3, 3))
    assert workdays.active().covered_until == date(2027, 12, 31)


def test_clerks_cannot_edit_the_calendar(office):
    app, _director = office
    clerk = app.test_client()
    login(clerk, "clerk1")
    assert clerk.get("/console/calendar").status_code == 403
    assert save(clerk, "2027", YEAR_2027).status_code == 403
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(CalendarYear)) is None
