"""Working days across the 2026 holidays from the calendar file; a college's own file; days past
the file's last year; a broken file stopping the service at start."""

import json
from datetime import date, datetime, timezone

import pytest

from bot.platform import workdays
from bot.platform.workdays import add_working_days, is_working_day, use_calendar


def _file(tmp_path, data, name="holidays.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_national_day_week_is_skipped_and_the_makeup_saturday_counts():
    assert add_working_days(date(2026, 9, 30), 3) == date(
        2026, 10, 10
    )  # Oct 1-7 off, Sat Oct 10 on
    assert not is_working_day(date(2026, 10, 5))
    assert is_working_day(date(2026, 9, 20))  # a Sunday worked for the holiday


def test_spring_festival_2026():
    assert add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)  # Saturday worked
    assert add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)  # Feb 15-23 off


def test_ordinary_weekend():
    assert add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Friday -> Monday


def test_past_the_file_only_weekends_and_fixed_date_holidays_count_and_it_is_logged(caplog):
    assert workdays.active().covered_until == date(2026, 12, 31)
    with caplog.at_level("WARNING", logger="bot.platform.workdays"):
        # Thu Dec 31 counts; Fri Jan 1 2027 is 元旦 although 2027 is not in the file; then Mon Jan 4
        assert add_working_days(date(2026, 12, 30), 2) == date(2027, 1, 4)
    assert "ends 2026-12-31" in caplog.text
    assert not is_working_day(date(2027, 10, 1))  # a Friday, 国庆节
    assert is_working_day(date(2027, 5, 3))  # a Monday: 2027's 劳动节 arrangement is not known yet
    assert is_working_day(
        date(2027, 2, 8)
    )  # Spring Festival 2027 is unknown until the notice: a Monday


def test_the_colleges_own_file_adds_a_year(tmp_path):
    path = _file(
        tmp_path, {"2027": {"holidays": ["2027-01-01", "2027-02-08"], "workdays": ["2027-02-06"]}}
    )
    calendar = use_calendar(path)
    assert calendar.covered_until == date(2027, 12, 31)
    assert is_working_day(date(2027, 2, 6))  # a Saturday worked
    assert not is_working_day(date(2027, 2, 8))
    assert add_working_days(date(2027, 2, 5), 2) == date(2027, 2, 9)
    assert not calendar.needs_update(date(2027, 10, 1)) and calendar.needs_update(date(2027, 11, 2))


@pytest.mark.parametrize(
    "data, error",
    [
        ({"_comment": "x"}, "no year"),
        ({"2027": {"holidays": ["2026-10-01"]}}, "listed under 2027"),
        (
            {"2027": {"holidays": ["2027-10-01"], "workdays": ["2027-10-01"]}},
            "both a holiday and a working day",
        ),
        ({"2027": {"holidays": ["2027-02-30"]}}, "day is out of range"),
    ],
)
def test_a_broken_file_is_refused(tmp_path, data, error):
    with pytest.raises(ValueError, match=error):
        use_calendar(_file(tmp_path, data))


def test_a_broken_file_stops_the_app_at_start(make_app, tmp_path):
    with pytest.raises(ValueError, match="listed under"):
        make_app(
            GRADCERT_HOLIDAYS_FILE=str(_file(tmp_path, {"2027": {"workdays": ["2026-01-04"]}}))
        )


def test_the_app_uses_the_configured_file(make_app, tmp_path):
    path = _file(tmp_path, {"2027": {"holidays": ["2027-01-01"]}})
    make_app(GRADCERT_HOLIDAYS_FILE=str(path))
    assert workdays.active().path == str(path)
    make_app()
    assert workdays.active().path == str(workdays.BUNDLED)
    assert workdays.today_in_china(datetime(2026, 11, 25, 17, tzinfo=timezone.utc)) == date(
        2026, 11, 26
    )
