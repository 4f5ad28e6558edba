"""A conversation for rural users: messy typed and spoken input at the ID, code and menu steps
(table-driven, through the real callback where it matters). Every reply's length: test_replies.py."""

from dataclasses import astuple
from datetime import date

import pytest

from bot.binding.script import BindStep
from bot.core.state import Conversation
from bot.understand import (
    is_no,
    is_skip,
    is_yes,
    read_code,
    read_date,
    read_days,
    read_id_number,
    read_identity,
    read_name,
    read_number,
    read_phone,
    read_student_no,
)
from tests.conftest import APP_ID

ID = "11010519491231002X"
ID_INPUTS = [
    "11010519491231002X",
    "11010519491231002x",
    "１１０１０５１９４９１２３１００２Ｘ",
    "１１０１０５１９４９１２３１００２ｘ",
    "110105 19491231 002X",
    "110105-19491231-002x",
    "110105 1949 1231 002 X",
    " 11010519491231002X ",
    "11010519491231002X。",
    "11010519491231002X！",
    "11010519491231002X，",
    "“11010519491231002X”",
    "110105.19491231.002X",
    "110105—19491231—002X",
    "110105_19491231_002X",
    "110105　19491231　002X",
    "幺幺零幺零五幺九四九幺二三幺零零二叉",
    "一一零一零五一九四九一二三一零零二X",
    "一一〇一〇五一九四九一二三一〇〇二x",
    "幺幺零幺零五 幺九四九幺二三幺 零零二 叉",
    "壹壹零壹零伍壹玖肆玖壹贰叁壹零零贰X",
    "11010519491231002叉",
    "身份证号是11010519491231002X",
    "我的身份证号是 110105 19491231 002x",
    "身份证：11010519491231002X",
    "身份证号码11010519491231002X",
    "号码是11010519491231002x",
    "110105１９４９1231002X",
    "11010519491231002 X",
    "1101 0519 4912 3100 2X",
    "11-01-05-19-49-12-31-00-2X",
    "110105/19491231/002X",
    "(11010519491231002X)",
    "【11010519491231002X】",
    "11010519491231002艾克斯",
    "一一零一零五，一九四九一二三一，零零二，叉。",
    "11010519491231002Ｘ。",
    "１１０１０５-１９４９-１２３１-００２x",
    "11010519491231002X\n",
    "\t11010519491231002X",
]
CODE_INPUTS = [
    ("123456", "123456"),
    ("１２３４５６", "123456"),
    ("123 456", "123456"),
    ("12 34 56", "123456"),
    ("123-456", "123456"),
    ("1 2 3 4 5 6", "123456"),
    ("幺二三四五六", "123456"),
    ("一二三四五六", "123456"),
    ("验证码是123456", "123456"),
    ("验证码：123456。", "123456"),
    ("123456。", "123456"),
    ("“123456”", "123456"),
    ("零零七零零七", "007007"),
    ("两两两两两两", "222222"),
    ("洞洞幺洞洞幺", "001001"),
    ("拐拐拐勾勾勾", "777999"),
    ("123 4 5 6", "123456"),
    ("　１２３４５６　", "123456"),
    ("123456！", "123456"),
    ("码123456", "123456"),
    ("12345", None),
    ("1234567", None),
    ("abcdef", None),
    ("", None),
    ("重新", None),
    ("12345６", "123456"),
    ("１23456", "123456"),
    ("一2三4五6", "123456"),
    ("123,456", "123456"),
    ("123.456", "123456"),
]
MENU_INPUTS = [
    ("1", "个人信息告知"),
    ("１", "个人信息告知"),
    ("一", "个人信息告知"),
    ("壹", "个人信息告知"),
    ("第一个", "个人信息告知"),
    ("选1", "个人信息告知"),
    ("1。", "个人信息告知"),
    (" 1 ", "个人信息告知"),
    ("绑定", "个人信息告知"),
    ("幺", "个人信息告知"),
    ("2", "先绑定身份"),
    ("二", "先绑定身份"),
    ("两", "先绑定身份"),
    ("第二个", "先绑定身份"),
    ("查询", "先绑定身份"),
    ("毕业证", "先绑定身份"),
    ("２", "先绑定身份"),
    ("3", "常见原因"),
    ("三", "常见原因"),
    ("异议", "常见原因"),
    ("查不到", "常见原因"),
    ("４", "还没有提交过"),
    ("四", "还没有提交过"),
    ("进度", "还没有提交过"),
    ("5", "家人代办"),
    ("五", "家人代办"),
    ("代办", "家人代办"),
    ("0", "使用帮助"),
    ("０", "使用帮助"),
    ("零", "使用帮助"),
    ("菜单", "请回复数字选择"),
    ("重新开始", "请回复数字选择"),
    ("返回", "请回复数字选择"),
    ("帮助", "使用帮助"),
    ("？", "使用帮助"),
    ("8", "没看懂"),
    ("你好", "请回复数字选择"),
    ("😀", "没看懂"),
    ("'; DROP TABLE students; --", "没看懂"),
    ("<xml>", "没看懂"),
]


def test_there_are_at_least_a_hundred_cases():
    assert len(ID_INPUTS) + len(CODE_INPUTS) + len(MENU_INPUTS) >= 100


@pytest.mark.parametrize("typed", ID_INPUTS)
def test_id_step_through_the_callback(app, chat, typed):
    tag = "{wx:%s:%s}" % (APP_ID, "rural-id")
    app.extensions["gradcert"].storage.set_state(
        tag, Conversation(flow="binding", step=BindStep.ID_NUMBER.value, data={"name": "张三"})
    )
    assert "学号" in chat.say("rural-id", typed)
    conv, _ = app.extensions["gradcert"].storage.load(tag)
    assert app.extensions["gradcert"].domain.cipher.open_text(conv.data["id_sealed"]) == ID
    assert read_id_number(typed) == ID


@pytest.mark.parametrize("typed, expected", CODE_INPUTS)
def test_code_step_reads_digits(typed, expected):
    assert read_code(typed) == expected


@pytest.mark.parametrize("typed, marker", MENU_INPUTS)
def test_menu_step_through_the_callback(chat, typed, marker):
    assert marker in chat.say("rural-menu", typed)


@pytest.mark.parametrize(
    "typed",
    [
        "我叫张三，身份证号是510821199803124418，学号：2016010203",
        "姓名：张三 身份证：510821 19980312 4418 学号2016010203",
        "学号2016010203 身份证510821199803124418 张 三",
    ],
)
def test_labelled_identity_in_one_message_through_the_callback(chat, demo, typed):
    assert "个人信息告知" in chat.say("rural-labels", "1")
    chat.say("rural-labels", "同意")
    assert "验证码已发到" in chat.say("rural-labels", typed)


def test_labelled_student_number_through_the_callback(chat, demo):
    assert "个人信息告知" in chat.say("rural-no", "1")
    chat.say("rural-no", "同意")
    chat.say("rural-no", "姓名是李小红")
    chat.say("rural-no", "身份证号：" + demo["李小红"][2])
    assert "验证码已发到" in chat.say("rural-no", "学号：2017 0201 18")


@pytest.mark.parametrize(
    "spoken, marker",
    [
        ("一。", "个人信息告知"),
        ("二。", "先绑定身份"),
        ("帮助。", "使用帮助"),
        ("零。", "请回复数字选择"),
    ],
)
def test_voice_works_like_text(chat, spoken, marker):
    res = chat.post(*chat.sim.voice("rural-voice", spoken))
    assert marker in chat.sim.reply_text(res.data)


# -- the readers: labels and fillers dropped wherever they appear ---------------------------------
ZHANG = "510821199803124418"
ZHAO = "410102200303031236"
IDENTITY_INPUTS = [
    (f"张三 {ZHANG} 2016010203", ("张三", ZHANG, "2016010203")),
    (f"张三 {ZHANG} 学号2016010203", ("张三", ZHANG, "2016010203")),
    (f"赵六，身份证{ZHAO}，学号2022070701", ("赵六", ZHAO, "2022070701")),
    (f"我叫赵六，身份证号是{ZHAO}，学号是2022070701", ("赵六", ZHAO, "2022070701")),
    (f"姓名：赵六 身份证号：{ZHAO} 学号：2022070701", ("赵六", ZHAO, "2022070701")),
    (f"学号2022070701 身份证{ZHAO} 赵六", ("赵六", ZHAO, "2022070701")),
    (f"{ZHAO} 赵六", ("赵六", ZHAO, None)),
    (f"2022070701，{ZHAO}，赵六", ("赵六", ZHAO, "2022070701")),
    (f"张三{ZHANG}", ("张三", ZHANG, None)),
    (f"张 三 {ZHANG}", ("张三", ZHANG, None)),
    (
        "张三，五一零八二一一九九八零三一二四四一八，二零一六零一零二零三。",
        ("张三", ZHANG, "2016010203"),
    ),
    (f"ZHANG SAN {ZHANG}", ("ZHANG SAN", ZHANG, None)),
    (f"zhang san {ZHANG} 2016010203", ("zhang san", ZHANG, "2016010203")),
    (f"阿依古丽•买买提 {ZHANG}", ("阿依古丽·买买提", ZHANG, None)),
    (f"阿依古丽．买买提 {ZHANG}", ("阿依古丽·买买提", ZHANG, None)),
    (f"陆一 {ZHANG}", ("陆一", ZHANG, None)),
    ("张三", ("张三", "", None)),
    (ZHANG, (None, ZHANG, None)),
    (f"孩子叫赵六，身份证号{ZHAO}。", ("赵六", ZHAO, None)),
    (f"我的女儿叫赵六 {ZHAO}", ("赵六", ZHAO, None)),
]
NAME_INPUTS = [
    ("张三", "张三"),
    (" 张三。", "张三"),
    ("我叫张三", "张三"),
    ("我是张三", "张三"),
    ("姓名：张三", "张三"),
    ("姓名是张三", "张三"),
    ("名字：张三", "张三"),
    ("张 三", "张三"),
    ("阿依古丽·买买提", "阿依古丽·买买提"),
    ("阿依古丽•买买提", "阿依古丽·买买提"),
    ("阿依古丽・买买提", "阿依古丽·买买提"),
    ("阿依古丽.买买提", "阿依古丽·买买提"),
    ("阿依古丽．买买提", "阿依古丽·买买提"),
    ("ZHANG SAN", "ZHANG SAN"),
    ("Zhang  San", "Zhang San"),
    ("zhang san", "zhang san"),
    ("ＺＨＡＮＧ ＳＡＮ", "ZHANG SAN"),
    ("李", None),
    ("", None),
    ("123", None),
    ("张@三", None),
    ("Zhang3", None),
    ("张" * 31, None),
]
STUDENT_NO_INPUTS = [
    ("2016010203", "2016010203"),
    ("学号：2016010203", "2016010203"),
    ("学号是 2016 0102 03", "2016010203"),
    ("二零一六零一零二零三", "2016010203"),
    ("２０１６０１０２０３", "2016010203"),
    ("b2016010", "B2016010"),
    ("12", None),
    ("跳过", None),
    ("不知道", None),
    ("2016-0102-03-04-05-06-07-08-09", None),
]
NUMBER_INPUTS = [
    ("90", 90),
    ("９０", 90),
    ("九十", 90),
    ("九十天", 90),
    ("二十", 20),
    ("十", 10),
    ("十五", 15),
    ("一百八十", 180),
    ("一百八", 180),
    ("一百零五", 105),
    ("两百", 200),
    ("九零", 90),
    ("幺八零", 180),
    ("30天", 30),
    ("九十 天", 90),
    ("abc", None),
    ("", None),
    ("天", None),
]
DAYS_ONLY = [
    ("半年", 180),
    ("三个月", 90),
    ("3个月", 90),
    ("一个月", 30),
    ("要90天的", 90),
    ("一年", None),
]


@pytest.mark.parametrize("typed, expected", IDENTITY_INPUTS)
def test_read_identity_finds_three_fields_in_any_order(typed, expected):
    assert astuple(read_identity(typed)) == expected


@pytest.mark.parametrize("typed, expected", NAME_INPUTS)
def test_read_name(typed, expected):
    assert read_name(typed) == expected


@pytest.mark.parametrize("typed, expected", STUDENT_NO_INPUTS)
def test_read_student_no(typed, expected):
    assert read_student_no(typed) == expected


def test_skip_words_are_told_apart_from_numbers():
    assert is_skip("跳过") and is_skip("不记得。") and not is_skip("2016010203")


@pytest.mark.parametrize(
    "typed", ["学号：2016010203", "身份证号是11010519491231002X", "号码：11010519491231002X"]
)
def test_labels_are_dropped_from_numbers(typed):
    assert read_id_number(typed) in ("2016010203", ID)


@pytest.mark.parametrize("typed, expected", DAYS_ONLY)
def test_read_days_in_months(typed, expected):
    assert read_days(typed) == expected


@pytest.mark.parametrize(
    "typed, yes, no",
    [("我同意", True, False), ("嗯嗯", True, False), ("好的好的", True, False)]
    + [("我不同意", False, True), ("张三", False, False), ("不是", False, True)],
)
def test_yes_and_no_in_peoples_words(typed, yes, no):
    assert (is_yes(typed), is_no(typed)) == (yes, no)


@pytest.mark.parametrize("typed, expected", NUMBER_INPUTS)
def test_read_number_and_days(typed, expected):
    assert read_days(typed) == expected
    if not typed.endswith("天"):
        assert read_number(typed) == expected


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("2026-12-20", date(2026, 12, 20)),
        ("2026/12/20", date(2026, 12, 20)),
        ("2026年12月20日", date(2026, 12, 20)),
        ("20261220", date(2026, 12, 20)),
        ("12月20日", date(2026, 12, 20)),
        ("12月20号", date(2026, 12, 20)),
        ("3月1日", date(2027, 3, 1)),
        ("十二月二十日", date(2026, 12, 20)),
        ("二零二六年十二月二十号", date(2026, 12, 20)),
        ("截止日期是2026年12月20日", date(2026, 12, 20)),
        ("2026-02-30", None),
        ("下个月", None),
    ],
)
def test_read_date(typed, expected):
    assert read_date(typed, date(2026, 11, 25)) == expected


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("13800001234", "13800001234"),
        ("138 0000 1234", "13800001234"),
        ("手机号：138-0000-1234", "13800001234"),
        ("12345", None),
    ],
)
def test_read_phone(typed, expected):
    assert read_phone(typed) == expected
