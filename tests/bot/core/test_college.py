"""The college's facts reach every reply from its settings: the office named as its documents name
it, the telephone told only when it is set (never a placeholder), campus codes never shown raw."""

from datetime import date
from pathlib import Path

import pytest
from jinja2 import ChainableUndefined

from bot.core.college import College, parse_mapping, parse_months
from bot.core.replies import DEFAULT_DIR, ReplyBook
from handlers import config

TEMPLATES = sorted(
    p.relative_to(DEFAULT_DIR).with_suffix("").as_posix() for p in Path(DEFAULT_DIR).rglob("*.txt")
)
INVENTED = ("0000-12345678", "一楼", "学籍窗口", "8:30")
PHONE = "0571-86001234"


def _college(**settings) -> College:
    return College.from_config(config.load("/nonexistent-instance", {**_defaults(), **settings}))


def _defaults() -> dict:
    # generated secrets are not needed to read the college's facts
    return {name: "x" for name in config.GENERATED}


def _rendered(college: College, surface: str) -> dict[str, str]:
    book = ReplyBook(college=college)
    book.env.undefined = ChainableUndefined  # every template, whatever values it takes
    return {name: book.render(name, surface=surface) for name in TEMPLATES}


@pytest.mark.parametrize("surface", ["chat", "api"])
def test_no_reply_names_an_invented_office_or_a_placeholder_telephone(surface):
    for name, text in _rendered(_college(), surface).items():
        assert not [w for w in INVENTED if w in text], name
        assert "电话 " not in text and "电话：）" not in text, name


def test_the_telephone_is_told_where_the_office_is_when_it_is_set():
    unset, told = (
        _rendered(_college(), "chat"),
        _rendered(_college(GRADCERT_OFFICE_PHONE=PHONE), "chat"),
    )
    with_phone = [name for name, text in told.items() if PHONE in text]
    assert "system/offline_route" in with_phone and "binding/displaced" in with_phone
    for name in with_phone:
        assert unset[name] == told[name].replace(f"，电话 {PHONE}", ""), name
        assert "行政楼A203" in told[name], name


def test_office_hours_are_told_only_when_set():
    plain = _rendered(_college(), "chat")["menu/help"]
    hours = _rendered(_college(GRADCERT_OFFICE_HOURS="工作日 9:00-17:00"), "chat")["menu/help"]
    assert (
        "行政楼A203" in plain and "9:00" not in plain and "行政楼A203（工作日 9:00-17:00）" in hours
    )


def test_college_defaults_follow_its_documents():
    college = _college()
    assert college.office == "行政楼A203" and college.phone == "" and college.hours == ""
    assert college.sync_working_days("main") == 0 and college.sync_working_days("gy") == 3
    assert college.is_peak(date(2026, 6, 10)) and college.is_peak(date(2026, 7, 31))
    assert not college.is_peak(date(2026, 8, 1))


def test_campus_codes_are_never_shown_raw():
    college = _college(GRADCERT_CAMPUS_NAMES="main:主校区，gy:贵阳分校")
    assert college.campus("gy") == "贵阳分校" and college.campus("main") == "主校区"
    assert _college().campus("gy") == "分校区"


def test_settings_are_parsed_forgivingly():
    assert parse_mapping("a:1, b：2,,c") == {"a": "1", "b": "2"}
    assert parse_months("6-7") == (6, 7) and parse_months("12,x,13") == (12,)
    assert _college(GRADCERT_PEAK_MONTHS="").is_peak(date(2026, 6, 1)) is False


def test_a_rejections_next_route_names_the_office_from_the_settings():
    from bot.appeals.rules import next_route_text

    assert next_route_text("window") == "带身份证和相关材料到行政楼A203办理"
    told = next_route_text("window", _college(GRADCERT_OFFICE_PHONE=PHONE))
    assert told == f"带身份证和相关材料到行政楼A203办理，电话 {PHONE}"
    assert next_route_text("nowhere") is None
