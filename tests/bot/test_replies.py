"""Every reply fits one phone screen: each template under templates/replies, rendered by the real
ReplyBook (the college's default facts) with realistic, long values, for the chat and for the API,
is at most 200 characters and names no placeholder telephone."""

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import ChainableUndefined

from bot.appeals.rules import CATEGORIES
from bot.core.college import College
from bot.core.replies import DEFAULT_DIR, ReplyBook

TEMPLATES = sorted(
    p.relative_to(DEFAULT_DIR).with_suffix("").as_posix() for p in Path(DEFAULT_DIR).rglob("*.txt")
)
LONGEST = 200
PLACEHOLDER_PHONE = "0000-12345678"

DIPLOMA = SimpleNamespace(
    certificate_no="139321202105001234",
    level="专科",
    major="计算机网络技术与信息安全",
    study_mode="非全日制",
    campus="main",
    source="main",
)
VALUES = dict(
    name="阿依古丽·买**",
    student_no="2019****22",
    school="示范职业技术学院",
    phone="138****0002",
    code="ABCDEFGHJKLMNPQR",
    until="2027-02-23",
    ticket="GA20261125-0042",
    due="2026-12-02",
    d=DIPLOMA,
    enrol="2018-09-01",
    grad="2021-06-30",
    expected="2026-10-10",
    leave="2026-09-30",
    categories=CATEGORIES,
    version="2026-11",
    minutes=60,
    seconds=60,
    left=4,
    count=9,
    limit=500,
    length=17,
    birth="19990230",
    relation="父母",
    action="查询了毕业证书",
    needs="派出所出具的姓名变更证明",
    note="请补充公证委托书的清晰照片，四角要完整",
    waiting=True,
    category="以上都不是（信息有误或查不到）",
    description="查不到我的毕业证书，我是2019年毕业的护理专业…",
    photos=9,
    urgent="2026-12-20",
    acting="代 李** 办理",
    feature="appeal",
    agree=True,
    number=1234,
    when="11-25 13:45",
    status="已绑定：李**",
    days=180,
    day="2025-01-01",
    extending=True,
    expired=False,
    state="expired",
    campus=True,
    scopes="查询、开具电子证明",
    label="改过名字",
    others=2,
    appeals=3,
    certificates=2,
    claimed="自称你的父母",
)
ROWS = {  # list templates and the shape of their rows (as many rows as a list shows)
    "diploma/cert_list": [("ABCDEFGHJKLMNPQR", "2027-02-23", "valid")] * 5,
    "proxy/mine": [("父母", "学校审核中", date(2027, 1, 1))] * 5,
    "proxy/switch": [("阿依古丽·买**", "你的孩子")] * 5,
    "proxy/which_request": [(1234, "父母", "11-25 13:45")] * 3,
}
APPEAL_ROWS = [("GA20261125-0042", "改过名字", "需要补充材料", date(2026, 12, 2), True)] * 3


@pytest.fixture(scope="module")
def book() -> ReplyBook:
    book = ReplyBook()
    book.env.undefined = ChainableUndefined  # a value a template takes and we did not list
    return book


def _render(book: ReplyBook, name: str, surface: str, **changes) -> str:
    values = {**VALUES, "rows": ROWS.get(name, APPEAL_ROWS), "surface": surface, **changes}
    return book.render(name, **values).strip()


def test_there_are_templates():
    assert len(TEMPLATES) > 100


@pytest.mark.parametrize("surface", ["chat", "api"])
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_reply_fits_one_screen(book, name, surface):
    for variant in ({}, {"expired": True, "extending": False, "waiting": False, "campus": False}):
        text = _render(book, name, surface, **variant)
        assert len(text) <= LONGEST, (name, len(text), text)
        assert PLACEHOLDER_PHONE not in text, name


def test_help_is_one_short_reply(book):
    assert len(_render(book, "menu/help", "chat")) <= LONGEST


def test_zero_at_the_menu_fits_even_for_a_proxy_with_a_telephone_set():
    """`0` at the menu answers a short help and the menu in one screen, in its longest case: a
    proxy (the acting tag and two status lines) of a college that set its telephone."""
    book = ReplyBook(college=College(phone="0571-86001234"))
    status = "已绑定：阿依古丽·买**\n现在代 阿依古丽·买**（你的孩子）办理，回复5切换"
    text = (
        book.render("proxy/acting_tag", name="阿依古丽·买**")
        + book.render("menu/help_short")
        + "\n\n"
        + book.render("menu/main", status=status)
    )
    assert len(text) <= LONGEST and "0571-86001234" in text
