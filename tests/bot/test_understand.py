"""A conversation for rural users: messy typed and spoken input at the ID, code and menu steps
(table-driven, through the real callback where it matters), and replies that fit one phone screen."""

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import ChainableUndefined, Environment, FileSystemLoader

from bot.appeals.rules import CATEGORIES
from bot.binding.code_step import code_digits
from bot.binding.script import BindStep
from bot.core.state import Conversation
from bot.platform.idcard import normalise
from tests.conftest import APP_ID

ID = "11010519491231002X"
ID_INPUTS = [
    "11010519491231002X", "11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ", "１１０１０５１９４９１２３１００２ｘ",
    "110105 19491231 002X", "110105-19491231-002x", "110105 1949 1231 002 X", " 11010519491231002X ",
    "11010519491231002X。", "11010519491231002X！", "11010519491231002X，", "“11010519491231002X”",
    "110105.19491231.002X", "110105—19491231—002X", "110105_19491231_002X", "110105　19491231　002X",
    "幺幺零幺零五幺九四九幺二三幺零零二叉", "一一零一零五一九四九一二三一零零二X", "一一〇一〇五一九四九一二三一〇〇二x",
    "幺幺零幺零五 幺九四九幺二三幺 零零二 叉", "壹壹零壹零伍壹玖肆玖壹贰叁壹零零贰X", "11010519491231002叉",
    "身份证号是11010519491231002X", "我的身份证号是 110105 19491231 002x", "身份证：11010519491231002X",
    "身份证号码11010519491231002X", "号码是11010519491231002x", "110105１９４９1231002X",
    "11010519491231002 X", "1101 0519 4912 3100 2X", "11-01-05-19-49-12-31-00-2X", "110105/19491231/002X",
    "(11010519491231002X)", "【11010519491231002X】", "11010519491231002艾克斯", "一一零一零五，一九四九一二三一，零零二，叉。",
    "11010519491231002Ｘ。", "１１０１０５-１９４９-１２３１-００２x", "11010519491231002X\n", "\t11010519491231002X",
]
CODE_INPUTS = [
    ("123456", "123456"), ("１２３４５６", "123456"), ("123 456", "123456"), ("12 34 56", "123456"),
    ("123-456", "123456"), ("1 2 3 4 5 6", "123456"), ("幺二三四五六", "123456"), ("一二三四五六", "123456"),
    ("验证码是123456", "123456"), ("验证码：123456。", "123456"), ("123456。", "123456"), ("“123456”", "123456"),
    ("零零七零零七", "007007"), ("两两两两两两", "222222"), ("洞洞幺洞洞幺", "001001"), ("拐拐拐勾勾勾", "777999"),
    ("123 4 5 6", "123456"), ("　１２３４５６　", "123456"), ("123456！", "123456"), ("码123456", "123456"),
    ("12345", None), ("1234567", None), ("abcdef", None), ("", None), ("重新", None),
    ("12345６", "123456"), ("１23456", "123456"), ("一2三4五6", "123456"), ("123,456", "123456"), ("123.456", "123456"),
]
MENU_INPUTS = [
    ("1", "个人信息告知"), ("１", "个人信息告知"), ("一", "个人信息告知"), ("壹", "个人信息告知"), ("第一个", "个人信息告知"),
    ("选1", "个人信息告知"), ("1。", "个人信息告知"), (" 1 ", "个人信息告知"), ("绑定", "个人信息告知"), ("幺", "个人信息告知"),
    ("2", "先绑定身份"), ("二", "先绑定身份"), ("两", "先绑定身份"), ("第二个", "先绑定身份"), ("查询", "先绑定身份"),
    ("毕业证", "先绑定身份"), ("２", "先绑定身份"), ("3", "常见原因"), ("三", "常见原因"), ("异议", "常见原因"),
    ("查不到", "常见原因"), ("４", "还没有提交过"), ("四", "还没有提交过"), ("进度", "还没有提交过"), ("5", "家人代办"),
    ("五", "家人代办"), ("代办", "家人代办"), ("0", "使用帮助"), ("０", "使用帮助"), ("零", "使用帮助"),
    ("菜单", "请回复数字选择"), ("重新开始", "请回复数字选择"), ("返回", "请回复数字选择"), ("帮助", "使用帮助"), ("？", "使用帮助"),
    ("6", "没看懂"), ("你好", "没看懂"), ("😀", "没看懂"), ("'; DROP TABLE students; --", "没看懂"), ("<xml>", "没看懂"),
]


def test_there_are_at_least_a_hundred_cases():
    assert len(ID_INPUTS) + len(CODE_INPUTS) + len(MENU_INPUTS) >= 100


@pytest.mark.parametrize("typed", ID_INPUTS)
def test_id_step_through_the_callback(app, chat, typed):
    tag = "{wx:%s:%s}" % (APP_ID, "rural-id")
    app.extensions["gradcert"].storage.set_state(tag, Conversation(flow="binding", step=BindStep.ID_NUMBER.value, data={"name": "张三"}))
    assert "学号" in chat.say("rural-id", typed)
    conv, _ = app.extensions["gradcert"].storage.load(tag)
    assert app.extensions["gradcert"].domain.cipher.open_text(conv.data["id_sealed"]) == ID
    assert normalise(typed) == ID


@pytest.mark.parametrize("typed, expected", CODE_INPUTS)
def test_code_step_reads_digits(typed, expected):
    assert code_digits(typed) == expected


@pytest.mark.parametrize("typed, marker", MENU_INPUTS)
def test_menu_step_through_the_callback(chat, typed, marker):
    assert marker in chat.say("rural-menu", typed)


@pytest.mark.parametrize("spoken, marker", [("一。", "个人信息告知"), ("二。", "先绑定身份"), ("帮助。", "使用帮助"), ("零。", "请回复数字选择")])
def test_voice_works_like_text(chat, spoken, marker):
    res = chat.post(*chat.sim.voice("rural-voice", spoken))
    assert marker in chat.sim.reply_text(res.data)


def test_every_reply_fits_one_phone_screen():
    """About 200 characters at most, with realistic values filled in."""
    root = Path(__file__).resolve().parents[2] / "templates" / "replies"
    env = Environment(loader=FileSystemLoader(str(root)), undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    d = SimpleNamespace(certificate_no="139321202105001234", level="专科", major="计算机网络技术与信息安全", study_mode="非全日制", campus="main")
    values = dict(
        name="阿依古丽·买**", school="示范职业技术学院", phone="138****0002", code="ABCDEFGHJKLMNPQR", until="2027-02-23",
        ticket="GA20261125-0042", due="2026-12-02", d=d, enrol="2018-09-01", grad="2021-06-30", expected="2026-10-10",
        leave="2026-09-30", categories=CATEGORIES, version="2026-11", minutes=60, seconds=60, left=4, count=9, limit=500,
        length=17, birth="19990230", relation="父母", action="查询了毕业证书", needs="派出所出具的姓名变更证明",
        rows=[("GA20261125-0042", "改过名字", "需要补充材料", date(2026, 12, 2), True)] * 3, waiting=True,
        category="以上都不是（信息有误或查不到）", description="查不到我的毕业证书，我是2019年毕业的护理专业…", photos=9, urgent="2026-12-20",
        acting="代 李** 办理", feature="appeal", agree=True, number=1234, when="11-25 13:45", certificate_no="139321202105001234", status="已绑定：李**",
    )
    rows_of = {  # list templates and the shape of their rows (5 rows: the most a list shows)
        "diploma/cert_list.txt": [("ABCDEFGHJKLMNPQR", "2027-02-23", "valid")] * 5,
        "proxy/mine.txt": [("村级事务中心", "学校审核中", date(2027, 1, 1))] * 5,
        "proxy/switch.txt": [("阿依古丽·买**", "你的孩子")] * 5,
        "proxy/which_request.txt": [(1234, "村级事务中心", "11-25 13:45")] * 3,
    }
    too_long = {}
    for path in sorted(root.rglob("*.txt")):
        name = str(path.relative_to(root))
        text = env.get_template(name).render(**{**values, "rows": rows_of.get(name, values["rows"])}).strip()
        if len(text) > 200:
            too_long[name] = len(text)
    assert too_long == {}
