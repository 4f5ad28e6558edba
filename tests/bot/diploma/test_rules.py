"""When a diploma record can be queried: the college's sync rule per campus, holidays applied."""

from datetime import date

import pytest

from bot.core.college import College
from bot.diploma.rules import expected_sync_date
from models import Diploma


@pytest.mark.parametrize(
    "source, leave, expected",
    [
        ("main", date(2026, 9, 30), date(2026, 9, 30)),  # real time, whatever the holiday
        ("gy", date(2026, 9, 30), date(2026, 10, 10)),  # Oct 8, 9 and the 调休 Saturday Oct 10
        ("gy", date(2026, 9, 28), date(2026, 10, 8)),  # Sep 29, 30, then Oct 8
        ("gy", date(2026, 2, 13), date(2026, 2, 25)),  # Feb 14 (调休), then Spring Festival ends
        ("gy", None, None),
    ],
)
def test_expected_sync_date_follows_the_campus_rule_across_holidays(source, leave, expected):
    assert expected_sync_date(Diploma(source=source, leave_date=leave), College()) == expected


def test_the_sync_rule_is_a_setting():
    college = College(sync_days={"main": 1, "*": 5})
    assert expected_sync_date(
        Diploma(source="main", leave_date=date(2026, 9, 30)), college
    ) == date(2026, 10, 8)
    assert expected_sync_date(Diploma(source="xx", leave_date=date(2026, 11, 2)), college) == date(
        2026, 11, 9
    )
