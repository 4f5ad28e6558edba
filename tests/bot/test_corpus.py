"""A conversation corpus: messy things graduates and parents really type or say (voice punctuation,
labels, spoken digits, mixed scripts, dialect phrasing, menu and help words in the middle of a
form), each sent through the real signed WeChat callback at the step it belongs to, and each
asserting what was understood (the state it led to) or a distinguishing fragment of the reply.

One app serves the whole module; every case talks as its own WeChat user, so cases do not meet."""

from __future__ import annotations

import itertools
import os
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.appeals import rules as appeals
from bot.core import keys
from bot.core.state import Conversation
from bot.platform.demo import seed_demo
from bot.platform.idcard import check_character
from bot.understand import mask_personal
from models import Account, Appeal, AppealStatus, Binding, Certificate, Student, utcnow
from tests.conftest import APP_ID, TOKEN, Chat, _clean_database
from tests.miniapp_support import add_diploma

ZHANG = "510821199803124418"  # demo 张三, student number 2016010203
ZHAO = "41010220030303123" + check_character("41010220030303123")
ABUDU = "65010219990101301" + check_character("65010219990101301")
ABUDU_SPOKEN = "六五零幺零二幺九九九零幺零幺三零幺" + {"X": "叉"}.get(ABUDU[-1], ABUDU[-1])
LI = "11010519991231105" + check_character("11010519991231105")  # demo 李小红, 2017020118
_users = itertools.count(1)


LINK_TITLE = "电子学历证明（点开下载）"


def _read_as_text(reply: str) -> str:
    """What the user reads as text: a link message's title and address show as a card."""
    lines = reply.splitlines()
    return "\n".join(x for x in lines if not x.startswith("https://") and x != LINK_TITLE)


@pytest.fixture(scope="module")
def corpus(redis_url, database_url, tmp_path_factory):
    """One app for the module: the demo students plus 赵六 and 阿不都·热合曼, 李小红 bound (with a
    diploma) on every account that needs it."""
    import redis as redis_lib

    from handlers import create_app

    redis_lib.Redis.from_url(redis_url).flushdb()
    _clean_database(database_url)
    tmp = tmp_path_factory.mktemp("corpus")
    os.environ.setdefault("GRADCERT_INSTANCE", str(tmp / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_ENCODING_AES_KEY": "",
            "SMS_OUTBOX": str(tmp / "sms_outbox.jsonl"),
            "GRADCERT_PII_KEYS": "1:00112233445566778899aabbccddeeff",
            "GRADCERT_PUBLIC_URL": "https://verify.example.edu.cn",
        }
    )
    rt = app.extensions["gradcert"]
    seed_demo(rt)
    cipher = rt.domain.cipher
    with rt.sessions() as db:
        for no, name, id_number in (
            ("2022070701", "赵六", ZHAO),
            ("2021060601", "阿不都·热合曼", ABUDU),
        ):
            id_enc, version = cipher.seal(id_number, b"id")
            phone_enc, _ = cipher.seal("13900000009", b"phone")
            db.add(
                Student(
                    student_no=no,
                    name=name,
                    campus="main",
                    pii_key_version=version,
                    id_number_enc=id_enc,
                    id_number_index=cipher.index("id", id_number),
                    phone_enc=phone_enc,
                    phone_index=cipher.index("phone", "13900000009"),
                )
            )
        db.commit()
    add_diploma(app, "2017020118")
    yield Talk(app)
    rt.engine.pool.shutdown(wait=True)
    rt.db_engine.dispose()


class Talk(Chat):
    """The WeChat callback, with a way to put a fresh user at any step."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.bound: dict[str, tuple[str, int]] = {}

    def user(self) -> str:
        return f"corpus-{next(_users)}"

    def tag(self, openid: str) -> str:
        return "{wx:%s:%s}" % (APP_ID, openid)

    @property
    def rt(self):
        return self.app.extensions["gradcert"]

    def at(self, openid: str, flow: str, step: str, **data) -> None:
        self.rt.storage.set_state(self.tag(openid), Conversation(flow=flow, step=step, data=data))

    def state(self, openid: str) -> Conversation:
        return self.rt.storage.load(self.tag(openid))[0]

    def sealed(self, value: str) -> str:
        return self.rt.domain.cipher.seal_text(value)

    def opened(self, sealed: str) -> str:
        return self.rt.domain.cipher.open_text(sealed)

    def student_id(self, student_no: str) -> int:
        with self.rt.sessions() as db:
            return db.scalar(select(Student.id).where(Student.student_no == student_no))

    def lift_send_limits(self) -> None:
        """The SMS send limits that earlier cases used up."""
        redis = self.rt.redis
        limits = redis.keys("gc:{phone:*") + redis.keys("gc:*:otp:cool")
        if limits:
            redis.delete(*limits)

    def say(self, openid: str, content: str, msg_id: str | None = None) -> str:
        """As the user, typed."""
        self.lift_send_limits()
        reply = super().say(openid, content, msg_id)
        assert len(_read_as_text(reply)) <= 200, reply  # every answer fits one phone screen
        return reply

    def bind(self, student_no: str = "2017020118") -> tuple[str, int]:
        """The account bound to the student (code checked just now), made once: (openid, student
        id)."""
        if student_no in self.bound:
            openid, student_id = self.bound[student_no]
            self.at(openid, "menu", "start")
            return openid, student_id
        openid = self.user()
        self.say(openid, "菜单")  # the account is created on first contact
        with self.rt.sessions() as db:
            account = db.scalar(select(Account).where(Account.user_key == openid))
            student = db.scalar(select(Student).where(Student.student_no == student_no))
            db.add(
                Binding(
                    account_id=account.id,
                    student_id=student.id,
                    channel=account.channel,
                    verified_at=utcnow(),
                )
            )
            db.commit()
            self.bound[student_no] = (openid, student.id)
            return openid, student.id


MENU_LINE = "请回复数字选择"
HELP = "使用帮助"
HELP_HERE = "这一步"  # help in the middle of a form: the form goes on
NOT_BOUND = "先绑定身份"


# -- the menu: greetings, thanks, plain requests, help, English ---------------------------------
MENU_CASES = [
    ("你好", MENU_LINE),
    ("您好！", MENU_LINE),
    ("在吗", MENU_LINE),
    ("在吗？", MENU_LINE),
    ("在不在", MENU_LINE),
    ("hello", MENU_LINE),
    ("Hello!", MENU_LINE),
    ("hi", MENU_LINE),
    ("HI", MENU_LINE),
    ("你好，在吗", MENU_LINE),
    ("老师好", MENU_LINE),
    ("谢谢", "不客气"),
    ("谢谢你！", "不客气"),
    ("好的谢谢", "不客气"),
    ("thanks", "不客气"),
    ("我要查毕业证", NOT_BOUND),
    ("怎么查毕业证", NOT_BOUND),
    ("怎么查毕业证？", NOT_BOUND),
    ("查证书", NOT_BOUND),
    ("查学历", NOT_BOUND),
    ("学历查询", NOT_BOUND),
    ("我想查一下我的毕业证书", NOT_BOUND),
    ("查毕业证。", NOT_BOUND),
    ("毕业证怎么查", NOT_BOUND),
    ("俺想查下毕业证", NOT_BOUND),
    ("咋查毕业证嘞", NOT_BOUND),
    ("毕业证咋查", NOT_BOUND),
    ("帮我弄个电子证明", NOT_BOUND),
    ("我要开学历证明", NOT_BOUND),
    ("喂", MENU_LINE),
    ("在不", MENU_LINE),
    ("有人吗？", MENU_LINE),
    ("毕业证查不到", "常见原因"),
    ("我的信息对不上", "常见原因"),
    ("人工", HELP),
    ("人工客服", HELP),
    ("转人工", HELP),
    ("客服", HELP),
    ("电话", HELP),
    ("客服电话是多少", HELP),
    ("help", HELP),
    ("HELP", HELP),
    ("Help me", HELP),
    ("帮助", HELP),
    ("怎么用", HELP),
    ("menu", MENU_LINE),
    ("Menu", MENU_LINE),
    ("菜单。", MENU_LINE),
    ("0", HELP),
    ("零。", HELP),
    ("我要绑定", "个人信息告知"),
    ("绑定身份", "个人信息告知"),
    ("帮孩子查", "代办"),
    ("我帮孩子查", "代办"),
    ("帮我儿子查毕业证", "代办"),
    ("8", "没看懂"),
    ("啊啊啊", "没看懂"),
]


CHSI = "www.chsi.com.cn"
CHUANJIAOTONG = "四川省的学籍"
ENGLISH = "英文报告"
MAJOR_NAME = "国家专业目录"
CHANNELS = "其他查询渠道（回复数字看详情）"
MENU_CASES += [  # 其他查询渠道: the menu choice and the words people use for each channel
    ("6", CHANNELS),
    ("其他查询渠道", CHANNELS),
    ("还能在哪里查？", CHANNELS),
    ("学信网", CHSI),
    ("学信网怎么查", CHSI),
    ("学信网上查不到", CHSI),
    ("认证", CHSI),
    ("学历认证", CHSI),
    ("chsi", CHSI),
    ("川教通", CHUANJIAOTONG),
    ("川教通查得到吗？", CHUANJIAOTONG),
    ("英文", ENGLISH),
    ("英文认证", ENGLISH),
    ("学信网英文认证", ENGLISH),
    ("出国要英文学历证明", ENGLISH),
    ("专业名称不一样", MAJOR_NAME),
    ("学信网上专业名称不一样", MAJOR_NAME),
    ("专业名字对不上", MAJOR_NAME),
    ("身份认证", "个人信息告知"),
]
LOST = "补办学历证明书要先确认是你本人"
MENU_CASES += [  # 证书遗失: the menu choice and the words for a lost certificate
    ("7", LOST),
    ("证书遗失", LOST),
    ("补办", LOST),
    ("我的毕业证丢了", LOST),
    ("毕业证书丢了怎么办？", LOST),
    ("毕业证遗失了", LOST),
    ("补办毕业证", LOST),
    ("毕业证不见了", LOST),
    ("我要开学历证明", NOT_BOUND),  # a certificate of the record, not a lost one
]


@pytest.mark.parametrize("typed, fragment", MENU_CASES)
def test_menu(corpus, typed, fragment):
    reply = corpus.say(corpus.user(), typed)
    assert fragment in reply
    assert len(reply) <= 200
    if fragment != "没看懂":
        assert "没看懂" not in reply


def test_zero_at_the_menu_is_short(corpus):
    reply = corpus.say(corpus.user(), "0")
    assert HELP in reply and len(reply) <= 200


# -- binding: consent --------------------------------------------------------------------------
CONSENT_CASES = [
    ("同意", "name"),
    ("同意。", "name"),
    ("我同意", "name"),
    ("好的", "name"),
    ("1", "name"),
    ("一", "name"),
    ("可以", "name"),
    ("嗯嗯", "name"),
    ("ok", "name"),
    ("OK", "name"),
    ("不同意", "start"),
    ("算了", "start"),
    ("0", "start"),
    ("啥意思", "consent"),
    ("帮助", "consent"),
]


@pytest.mark.parametrize("typed, step", CONSENT_CASES)
def test_consent(corpus, typed, step):
    who = corpus.user()
    corpus.say(who, "1")
    reply = corpus.say(who, typed)
    assert corpus.state(who).step == step, reply
    if typed == "帮助":
        assert HELP_HERE in reply


# -- binding: the name, or everything in one message ----------------------------------------------
NAME_CASES = [
    ("张三", "张三"),
    ("张三。", "张三"),
    ("张 三", "张三"),
    ("我叫张三", "张三"),
    ("我叫张三。", "张三"),
    ("姓名：张三", "张三"),
    ("名字是张三", "张三"),
    ("ZHANG SAN", "ZHANG SAN"),
    ("zhang san", "zhang san"),
    ("Zhang  San", "Zhang San"),
    ("ＺＨＡＮＧ　ＳＡＮ", "ZHANG SAN"),
    ("阿依古丽.买买提", "阿依古丽·买买提"),
    ("阿依古丽·买买提", "阿依古丽·买买提"),
    ("阿依古丽•买买提", "阿依古丽·买买提"),
    ("阿依古丽．买买提", "阿依古丽·买买提"),
    ("阿依古丽 · 买买提", "阿依古丽·买买提"),
    ("阿不都热合曼", "阿不都热合曼"),
    ("我是阿不都热合曼。", "阿不都热合曼"),
    ("王芳，", "王芳"),
    ("欧阳娜娜", "欧阳娜娜"),
]


@pytest.mark.parametrize("typed, name", NAME_CASES)
def test_name_step_reads_the_name(corpus, typed, name):
    who = corpus.user()
    corpus.at(who, "binding", "name")
    reply = corpus.say(who, typed)
    conv = corpus.state(who)
    assert (conv.step, conv.data.get("name")) == ("id_number", name), reply
    assert "身份证号" in reply


NOT_A_NAME = [
    ("同意", "已经同意"),
    ("同意。", "已经同意"),
    ("好的", "已经同意"),
    ("不同意", "不会收集"),
    ("帮助", HELP_HERE),
    ("help", HELP_HERE),
    ("123", "没认出姓名"),
    ("1", "已经同意"),
    ("51082119980312441 2016010203", "17位"),
    ("李", "没认出姓名"),
    ("张@三", "没认出姓名"),
    ("😀", "没认出姓名"),
]


@pytest.mark.parametrize("typed, fragment", NOT_A_NAME)
def test_name_step_does_not_take_words_for_a_name(corpus, typed, fragment):
    who = corpus.user()
    corpus.at(who, "binding", "name")
    reply = corpus.say(who, typed)
    assert fragment in reply
    assert corpus.state(who).data.get("name") is None


CODE_SENT = "验证码已发到"
WHOLE_MESSAGES = [
    f"张三 {ZHANG} 学号2016010203",
    f"张三 {ZHANG} 2016010203",
    f"张三，{ZHANG}，2016010203。",
    f"我叫张三，身份证号是{ZHANG}，学号是2016010203。",
    f"学号2016010203 身份证{ZHANG} 张三",
    f"张 三 {ZHANG[:6]} {ZHANG[6:14]} {ZHANG[14:]} 2016010203",
    "张三，五幺零八二幺幺九九八零三幺二四四幺八，二零幺六零幺零二零三。",
    f"赵六，身份证{ZHAO}，学号2022070701",
    f"赵六 身份证号：{ZHAO} 学号：2022070701",
    f"姓名赵六身份证{ZHAO}学号2022070701",
    f"我叫阿不都热合曼，身份证号是{ABUDU_SPOKEN}，学号是二零二幺零六零六零幺。",
    f"阿不都·热合曼 {ABUDU} 2021060601",
    f"阿不都.热合曼 {ABUDU} 2021060601",
    f"阿不都热合曼 {ABUDU.lower()} 2021060601",
    f"李小红 {LI} 2017020118",
    f"李小红 {LI[:-1]}{LI[-1].lower()} 学号:2017020118",
    f"ZHANG SAN {'36010220020220331' + check_character('36010220020220331')} 2020050511",
    f"zhang san {'36010220020220331' + check_character('36010220020220331')} 2020050511",
]


@pytest.mark.parametrize("typed", WHOLE_MESSAGES)
def test_everything_in_one_message_sends_the_code(corpus, typed):
    who = corpus.user()
    corpus.at(who, "binding", "name")
    reply = corpus.say(who, typed)
    assert CODE_SENT in reply
    assert corpus.state(who).step == "code"


@pytest.mark.parametrize(
    "numbers, then",
    [
        (f"{ZHANG} 2016010203", "张三"),
        (f"身份证号：{ZHANG}，学号：2016010203", "我叫张三。"),
        (f"学号2016010203 {ZHANG}", "张 三"),
    ],
)
def test_numbers_first_then_the_name(corpus, numbers, then):
    who = corpus.user()
    corpus.at(who, "binding", "name")
    assert "还差姓名" in corpus.say(who, numbers)
    assert CODE_SENT in corpus.say(who, then)


def test_an_id_number_first_then_the_name_asks_for_the_student_number(corpus):
    who = corpus.user()
    corpus.at(who, "binding", "name")
    assert "还差姓名" in corpus.say(who, f"身份证号是{ZHANG}")
    assert "学号" in corpus.say(who, "张三")
    assert CODE_SENT in corpus.say(who, "学号：2016010203")


VOICE_CASES = [  # WeChat's recognised text, with the punctuation speech recognition adds
    ("student_no", "学号是二零二幺零六零六零幺。", CODE_SENT),
    ("student_no", "二零二幺，零六零六，零幺。", CODE_SENT),
    ("id_number", f"{ABUDU_SPOKEN}。", "学号"),
    ("name", "阿不都热合曼。", "身份证号"),
    ("name", "帮助。", HELP_HERE),
]


@pytest.mark.parametrize("step, spoken, fragment", VOICE_CASES)
def test_voice_at_binding_steps(corpus, step, spoken, fragment):
    who = corpus.user()
    given = {} if step == "name" else {"name": "阿不都热合曼", "id_sealed": corpus.sealed(ABUDU)}
    corpus.at(who, "binding", step, **given)
    corpus.lift_send_limits()
    reply = corpus.sim.reply_text(corpus.post(*corpus.sim.voice(who, spoken)).data)
    assert fragment in reply


# -- binding: the ID number --------------------------------------------------------------------
ID_CASES = [
    (ZHANG, "student_no"),
    (f"身份证号是{ZHANG}", "student_no"),
    (f"身份证：{ZHANG}。", "student_no"),
    (f"我的身份证号码是 {ZHANG[:6]} {ZHANG[6:14]} {ZHANG[14:]}", "student_no"),
    ("五幺零八二幺幺九九八零三幺二四四幺八", "student_no"),
    ("五一零八二一，一九九八零三一二，四四一八。", "student_no"),
    ("帮助", "id_number"),
    ("help", "id_number"),
    ("不知道", "id_number"),
    ("51082119980312441", "id_number"),
    ("5108211998031244189", "id_number"),
    ("51082119980312441X", "id_number"),
]


@pytest.mark.parametrize("typed, step", ID_CASES)
def test_id_step(corpus, typed, step):
    who = corpus.user()
    corpus.at(who, "binding", "id_number", name="张三")
    reply = corpus.say(who, typed)
    conv = corpus.state(who)
    assert conv.step == step, reply
    if step == "student_no":
        assert corpus.opened(conv.data["id_sealed"]) == ZHANG
    if typed in ("帮助", "help"):
        assert HELP_HERE in reply and "位" not in reply
    if typed == "不知道":
        assert "身份证号" in reply and "不一致" not in reply


ID_REPLIES = [
    ("51082119980312441", "17位"),
    ("5108211998031244189", "19位"),
    ("51082119980312441X", "最后一位"),
    ("我忘了", "没认出身份证号"),
    ("好的", "没认出身份证号"),
    ("身份证号是", "没认出身份证号"),
]


@pytest.mark.parametrize("typed, fragment", ID_REPLIES)
def test_id_step_says_what_it_could_not_read(corpus, typed, fragment):
    who = corpus.user()
    corpus.at(who, "binding", "id_number", name="张三")
    assert fragment in corpus.say(who, typed)


# -- binding: the student number (a real claim: the code is sent, or the no-match reply) ----------
STUDENT_NO_CASES = [
    ("张三", ZHANG, "2016010203", CODE_SENT),
    ("张三", ZHANG, "学号：2016010203", CODE_SENT),
    ("张三", ZHANG, "学号是2016010203。", CODE_SENT),
    ("张三", ZHANG, "学号 2016 0102 03", CODE_SENT),
    ("张三", ZHANG, "二零幺六零幺零二零三", CODE_SENT),
    ("张三", ZHANG, "２０１６０１０２０３", CODE_SENT),
    ("张三", ZHANG, "跳过", CODE_SENT),
    ("张三", ZHANG, "不记得了", CODE_SENT),
    ("阿不都热合曼", ABUDU, "学号是二零二幺零六零六零幺。", CODE_SENT),
    ("阿不都热合曼", ABUDU, "2021060601", CODE_SENT),
    ("赵六", ZHAO, "学号：2022070701", CODE_SENT),
    ("张三", ZHANG, "2016010299", "对不上"),
    ("张三", ZHANG, "帮助", HELP_HERE),
    ("张三", ZHANG, "12", "学号应该是"),
    ("张三", ZHANG, "不告诉你", "学号应该是"),
    ("张三", ZHANG, ZHANG, "这是身份证号"),
    ("张三", ZHANG, f"身份证号{ZHANG}", "这是身份证号"),
]


@pytest.mark.parametrize("name, id_number, typed, fragment", STUDENT_NO_CASES)
def test_student_no_step(corpus, name, id_number, typed, fragment):
    who = corpus.user()
    corpus.at(who, "binding", "student_no", name=name, id_sealed=corpus.sealed(id_number))
    assert fragment in corpus.say(who, typed)


def test_unreadable_messages_never_count_as_mismatches(corpus):
    who = corpus.user()
    for typed, fragment in [("不告诉你", "学号应该是"), (ZHANG, "这是身份证号")] * 4:
        corpus.at(who, "binding", "student_no", name="张三", id_sealed=corpus.sealed(ZHANG))
        assert fragment in corpus.say(who, typed)
    corpus.at(who, "binding", "student_no", name="张三", id_sealed=corpus.sealed(ZHANG))
    assert CODE_SENT in corpus.say(who, "2016010203")


# -- binding: the SMS code ---------------------------------------------------------------------
CODE_CASES = [
    ("帮助", HELP_HERE),
    ("12345", "6位"),
    ("验证码没收到", "6位"),
    ("abcdef", "6位"),
]


@pytest.mark.parametrize("typed, fragment", CODE_CASES)
def test_code_step(corpus, typed, fragment):
    who = corpus.user()
    corpus.at(who, "binding", "name")
    assert CODE_SENT in corpus.say(
        who, f"王芳 {'44030620000101123'}{check_character('44030620000101123')} 2018030307"
    )
    assert fragment in corpus.say(who, typed)
    assert corpus.state(who).step == "code"


# -- diploma: days of a new certificate --------------------------------------------------------
DAYS_CASES = [
    ("90", 90),
    ("９０", 90),
    ("90天", 90),
    ("九十天。", 90),
    ("九十", 90),
    ("一百八十", 180),
    ("一百八十天", 180),
    ("一百八", 180),
    ("三十天", 30),
    ("30 天", 30),
    ("半年", 180),
    ("三个月", 90),
    ("3个月", 90),
    ("一个月", 30),
    ("两个月", 60),
    ("要90天的", 90),
    ("20", None),
    ("二十天", None),
    ("一年", None),
    ("365", None),
    ("随便", None),
]


@pytest.mark.parametrize("typed, days", DAYS_CASES)
def test_certificate_days(corpus, typed, days):
    who, student_id = corpus.bind()
    corpus.at(who, "diploma", "days", student_id=student_id, submission=os.urandom(8).hex())
    reply = corpus.say(who, typed)
    if days is None:
        assert "30到180" in reply and corpus.state(who).step == "days"
    else:
        until = (date.today() + timedelta(days=days)).isoformat()
        assert "已开具" in reply and (
            until in reply or (date.fromisoformat(until) + timedelta(days=1)).isoformat() in reply
        )


# -- help at diploma steps ---------------------------------------------------------------------
def test_help_at_the_days_step_keeps_the_form(corpus):
    who, student_id = corpus.bind()
    corpus.at(who, "diploma", "days", student_id=student_id, submission="s" * 24)
    assert HELP_HERE in corpus.say(who, "帮助")
    assert corpus.state(who).step == "days"
    assert "已开具" in corpus.say(who, "九十天。")


# -- appeals: the deadline, the description, the phone -----------------------------------------
URGENT_CASES = [
    ("1", "photos"),
    ("不急", "photos"),
    ("没有", "photos"),
    ("没有截止日期", "photos"),
    (f"{date.today().year + 1}-03-01", "photos"),
    (f"{date.today().year + 1}年3月1日", "photos"),
    (f"截止日期是{date.today().year + 1}年3月1号", "photos"),
    ("2025-01-01", "urgent"),
    ("2020年5月1日", "urgent"),
    ("下个月", "urgent"),
    ("帮助", "urgent"),
]


@pytest.mark.parametrize("typed, step", URGENT_CASES)
def test_appeal_deadline(corpus, typed, step):
    who = corpus.user()
    corpus.at(who, "appeal", "urgent", category="other", description="查不到我的毕业证书")
    reply = corpus.say(who, typed)
    assert corpus.state(who).step == step, reply
    if typed.startswith("20") and step == "urgent":
        assert "已经过了" in reply and "没看懂" not in reply
    if typed == "下个月":
        assert "没看懂这个日期" in reply


DESCRIBE_CASES = [
    ("我是2019年毕业的护理专业，查不到我的毕业证书。", "urgent"),
    ("毕业证上名字是王小芳，现在改名叫王芳了", "urgent"),
    ("查不到", "describe"),
    ("帮助", "describe"),
]


@pytest.mark.parametrize("typed, step", DESCRIBE_CASES)
def test_appeal_description(corpus, typed, step):
    who = corpus.user()
    corpus.at(who, "appeal", "describe", category="other")
    reply = corpus.say(who, typed)
    assert corpus.state(who).step == step, reply


CONTACT_CASES = [
    ("13912345678", "confirm"),
    ("139 1234 5678", "confirm"),
    ("手机号：139-1234-5678", "confirm"),
    ("幺三九幺二三四五六七八", "confirm"),
    ("我的电话是13912345678。", "confirm"),
    ("12345", "contact"),
    ("帮助", "contact"),
]


@pytest.mark.parametrize("typed, step", CONTACT_CASES)
def test_appeal_contact(corpus, typed, step):
    who = corpus.user()
    corpus.at(who, "appeal", "contact", category="other", description="查不到", media=[])
    reply = corpus.say(who, typed)
    assert corpus.state(who).step == step, reply


CAUSE_CASES = [
    ("9", "describe"),
    ("九", "describe"),
    ("第9个", "describe"),
    ("3", "describe"),
    ("帮助", "cause"),
    ("不知道", "cause"),
]


@pytest.mark.parametrize("typed, step", CAUSE_CASES)
def test_appeal_cause(corpus, typed, step):
    who, _ = corpus.bind("2019040422")
    corpus.at(who, "appeal", "cause")
    reply = corpus.say(who, typed)
    assert corpus.state(who).step == step, reply


# -- a ticket waiting for more information: menu choices route, content is stored ---------------
@pytest.fixture(scope="module")
def waiting(corpus):
    """A user whose ticket waits for more information."""
    who, _ = corpus.bind("2020050511")
    corpus.say(who, "3")
    corpus.say(who, "9")
    corpus.say(who, "我是2020年毕业的，查不到毕业证书。")
    corpus.say(who, "1")
    corpus.say(who, "完成")
    corpus.say(who, "13912345678")
    assert "GA" in corpus.say(who, "1")
    with corpus.rt.sessions() as db:
        appeal = db.scalar(select(Appeal).order_by(Appeal.id.desc()))
        appeals.change_status(db, appeal, AppealStatus.NEED_MORE_INFO, "请发送毕业证书照片")
        db.commit()
        return who, appeal.id


def _infos(corpus, appeal_id) -> list[str]:
    with corpus.rt.sessions() as db:
        appeal = db.get(Appeal, appeal_id)
        return [e.note or "" for e in appeal.events if e.kind == "info"]


MORE_INFO_CASES = [
    ("2", "", False),
    ("4", "需要补充材料", False),
    ("菜单", MENU_LINE, False),
    ("帮助", HELP_HERE, False),
    ("你好", MENU_LINE, False),
    ("谢谢", "不客气", False),
    ("3", "", False),
    ("我的毕业证书照片在下一条", "已补充到异议申请", True),
    ("毕业时间是2020年6月", "已补充到异议申请", True),
    ("我电话换了，新号13912345679", "已补充到异议申请", True),
    ("谢谢老师，毕业证在我妈那里，明天拍照发来", "已补充到异议申请", True),
    ("我要补办毕业证", "已补充到异议申请", True),
]


@pytest.mark.parametrize("typed, fragment, stored", MORE_INFO_CASES)
def test_a_waiting_ticket_takes_content_not_menu_choices(corpus, waiting, typed, fragment, stored):
    who, appeal_id = waiting
    corpus.at(who, "appeal", "more_info", appeal_id=appeal_id)
    before = _infos(corpus, appeal_id)
    reply = corpus.say(who, typed)
    assert fragment in reply
    added = _infos(corpus, appeal_id)[len(before) :]
    assert (mask_personal(typed) in " ".join(added)) is stored, added  # phones stored masked


# -- proxies: the hub and the relation ---------------------------------------------------------
PROXY_CASES = [
    ("hub", {}, "1", "relation"),
    ("hub", {}, "一", "relation"),
    ("hub", {}, "第一个", "relation"),
    ("hub", {}, "帮助", "hub"),
    ("relation", {}, "1", "graduate"),
    ("relation", {}, "1。", "graduate"),
    ("relation", {}, "帮助", "relation"),
    ("relation", {}, "随便", "relation"),
    ("graduate", {"relation": "parent"}, "帮助", "graduate"),
    ("graduate", {"relation": "parent"}, "不知道", "graduate"),
    ("graduate", {"relation": "parent"}, f"阿不都热合曼 {ABUDU}", "consent"),
    ("graduate", {"relation": "parent"}, f"孩子叫赵六，身份证号{ZHAO}。", "consent"),
    ("graduate", {"relation": "parent"}, f"张 三，{ZHANG[:6]} {ZHANG[6:]}", "consent"),
]


@pytest.mark.parametrize("step, data, typed, expected", PROXY_CASES)
def test_proxy_steps(corpus, step, data, typed, expected):
    who = corpus.user()
    corpus.at(who, "proxy", step, **data)
    reply = corpus.say(who, typed)
    assert corpus.state(who).step == expected, reply


def test_the_corpus_has_at_least_150_messages():
    total = sum(
        map(
            len,
            (
                MENU_CASES,
                CONSENT_CASES,
                NAME_CASES,
                NOT_A_NAME,
                WHOLE_MESSAGES,
                ID_CASES,
                ID_REPLIES,
                STUDENT_NO_CASES,
                CODE_CASES,
                DAYS_CASES,
                URGENT_CASES,
                DESCRIBE_CASES,
                CONTACT_CASES,
                CAUSE_CASES,
                MORE_INFO_CASES,
                PROXY_CASES,
                EXPIRED_CASES,
                VOICE_CASES,
            ),
        )
    )
    assert total >= 150


# -- certificates: extending never shortens; a closed one offers nothing -------------------------
def _issued(corpus, days: int) -> tuple[str, str]:
    who, student_id = corpus.bind()
    corpus.at(who, "diploma", "days", student_id=student_id, submission=os.urandom(8).hex())
    assert "已开具" in corpus.say(who, str(days))
    corpus.at(who, "diploma", "menu", student_id=student_id)
    assert "最近5份" in corpus.say(who, "2")  # the newest certificate is the first in the list
    return who, corpus.state(who).data["codes"][0]


def test_extending_to_fewer_days_than_left_changes_nothing(corpus):
    who, code = _issued(corpus, 180)
    assert "回复2延长" in corpus.say(who, "1")
    assert "从今天算起" in corpus.say(who, "2")
    reply = corpus.say(who, "三十天")
    assert "不会缩短" in reply and code in reply
    assert corpus.state(who).step == "extend"
    with corpus.rt.sessions() as db:
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        assert (cert.valid_until.date() - date.today()).days >= 179


def test_a_closed_certificate_offers_nothing(corpus):
    who, code = _issued(corpus, 30)
    corpus.say(who, "1")
    corpus.say(who, "3")
    assert "已关闭" in corpus.say(who, "1")
    corpus.at(who, "diploma", "menu", student_id=corpus.bound["2017020118"][1])
    corpus.say(who, "2")
    reply = corpus.say(who, "1")
    assert "不能再操作" in reply and "延长" not in reply
    assert corpus.state(who).flow == "menu"


# -- silence: a form that timed out says so plainly ---------------------------------------------
EXPIRED_CASES = [
    (ZHANG, "重新开始"),
    ("2016010203", "重新开始"),
    ("张三", "重新开始"),
    ("2", NOT_BOUND),
]


@pytest.mark.parametrize("typed, fragment", EXPIRED_CASES)
def test_after_30_idle_minutes(corpus, typed, fragment):
    who = corpus.user()
    tag = corpus.tag(who)
    corpus.rt.storage.commit(tag, Conversation(flow="binding", step="id_number"), 0, "m0", [])
    corpus.rt.redis.delete(keys.state(tag))  # the idle TTL ran out
    reply = corpus.say(who, typed)
    assert "已经重新开始" in reply and fragment in reply
    assert "没看懂" not in reply and "代家人" not in reply
    assert len(reply) <= 200
