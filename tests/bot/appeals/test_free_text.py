"""ID numbers and phone numbers typed into free text are masked before they are stored, echoed
or cached (issue 12): appeal descriptions, added information (chat and API), staff notes."""

import zlib

import pytest
from sqlalchemy import select

from bot.understand import free_text, mask_personal
from models import Appeal, AppealEvent
from tests.bot.appeals.test_script import _appeals, wx  # noqa: F401

ID_NUMBER, PHONE = "11010519991231105X", "13912345678"
DESCRIPTION = f"我的身份证号是{ID_NUMBER}，电话{PHONE}，证书查不到。"


@pytest.mark.parametrize(
    "typed, shown",
    [
        (DESCRIPTION, "我的身份证号是1101**********105X，电话139****5678，证书查不到。"),
        ("号码 110105 19991231 105x 或 139-1234-5678", "号码 1101**********105X 或 139****5678"),
        ("＋86 １３９１２３４５６７８", "＋139****5678"),
        ("+86 13912345678", "139****5678"),
        ("旧身份证110105991231105", "旧身份证1101*******1105"),
        ("学号2017020118，证书编号139321202105001234567", None),  # not an ID nor a phone
        ("电话0851-12345678，2021年6月30日毕业", None),
    ],
)
def test_masking_finds_the_numbers_and_leaves_the_rest(typed, shown):
    assert mask_personal(typed) == (shown or typed)


def test_the_description_is_masked_in_the_table_the_reply_and_the_reply_cache(wx):  # noqa: F811
    app, chat, _, _ = wx
    chat.say("f1", "3")
    chat.say("f1", "9")
    chat.say("f1", "王芳 440306200001011231")
    asked = chat.say("f1", DESCRIPTION, msg_id="7770001")
    chat.say("f1", "1")
    chat.say("f1", "完成")
    confirm = chat.say("f1", "13800000009")
    assert "我的身份证号是1101****" in confirm  # the summary echoes the description, masked
    assert "已提交" in chat.say("f1", "1")
    for said in (asked, confirm):
        assert ID_NUMBER not in said and PHONE not in said
    [appeal] = _appeals(app)
    assert appeal.description.startswith("我的身份证号是1101**********105X，电话139****5678")
    redis = app.extensions["gradcert"].redis
    for key in redis.keys("*"):
        kind = redis.type(key)
        values = []
        if kind == b"string":
            values = [redis.get(key)]
        elif kind == b"hash":
            values = list(redis.hgetall(key).values())
        elif kind == b"list":
            values = redis.lrange(key, 0, -1)
        for value in values:
            for blob in (value, _inflate(value)):
                assert ID_NUMBER.encode() not in blob and PHONE.encode() not in blob, key


def _inflate(value: bytes) -> bytes:
    try:
        return zlib.decompress(value)
    except zlib.error:
        return b""


def test_information_added_later_and_staff_notes_are_masked(wx):  # noqa: F811
    app, chat, _, _ = wx
    chat.say("f2", "3")
    chat.say("f2", "9")
    chat.say("f2", "王芳 440306200001011231")
    chat.say("f2", "专业名称不对，请核对")
    chat.say("f2", "1")
    chat.say("f2", "完成")
    chat.say("f2", "13800000009")
    chat.say("f2", "1")
    [appeal] = _appeals(app)
    rt = app.extensions["gradcert"]
    from bot.appeals import staff
    from bot.platform.staff_auth import create_staff

    with rt.sessions() as db:
        clerk = create_staff(db, rt.domain.cipher, "clerk9", "王老师", "clerk", "correct horse!")
        row = db.get(Appeal, appeal.id)
        staff.add_note(db, row, f"来电{PHONE}，身份证{ID_NUMBER}已核对", clerk)
        staff.move(db, row, "under_review", "开始处理", clerk)
        staff.move(db, row, "need_more_info", f"请补充材料，可拨{PHONE}", clerk)
        db.commit()
    reply = chat.say("f2", f"补充：我的电话是 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}")
    assert PHONE not in reply
    with rt.sessions() as db:
        notes = [e.note or "" for e in db.scalars(select(AppealEvent))]
    assert any("139****5678" in n for n in notes) and len(notes) >= 4
    assert not any(PHONE in n.replace(" ", "") or ID_NUMBER in n for n in notes)


def test_free_text_keeps_what_was_written_otherwise():
    assert free_text("  专业名称不对\u0007，请核对  ") == "专业名称不对，请核对"
