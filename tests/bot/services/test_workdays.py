"""Working days across the 2026 holidays from the calendar file."""

from datetime import date

from bot.services.workdays import add_working_days, is_working_day


def test_national_day_week_is_skipped_and_the_makeup_saturday_counts():
    assert add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)  # Oct 1-7 off, Sat Oct 10 on
    assert not is_working_day(date(2026, 10, 5))
    assert is_working_day(date(2026, 9, 20))  # a Sunday worked for the holiday


def test_spring_festival_2026():
    assert add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)  # Saturday worked
    assert add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)  # Feb 15-23 off


def test_ordinary_weekend():
    assert add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Friday -> Monday
