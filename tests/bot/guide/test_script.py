"""其他查询渠道 through the real WeChat callback: the overview from the menu, each topic by number
and by keyword, the way from the no-record answers, and the facts as the college's settings."""

from __future__ import annotations

from tests.conftest import Chat


def test_the_menu_lists_the_channels_and_each_number_answers_its_topic(chat):
    overview = chat.say("g-1", "6")
    assert "1 学信网" in overview and "2 川教通" in overview and "4 学信网上专业名称" in overview
    chsi = chat.say("g-1", "1")
    # what it covers, when its data appear, how long the report takes, what costs money
    assert "全国高校学历" in chsi and "毕业当年7月起" in chsi
    assert "2-3个工作日" in chsi and "人工审核" in chsi and "下载认证报告收费" in chsi
    provincial = chat.say("g-1", "2")
    assert "四川省" in provincial and "1个工作日内" in provincial
    english = chat.say("g-1", "3")
    assert "英文报告" in english and "下载认证报告收费" in english
    major = chat.say("g-1", "4")
    assert "国家专业目录" in major and "学历同样有效" in major and "行政楼A203" in major
    for reply in (overview, chsi, provincial, english, major):
        assert len(reply) <= 200


def test_a_keyword_inside_the_guide_answers_and_other_words_go_back_to_the_menu(chat):
    chat.say("g-2", "其他渠道")
    assert "四川省" in chat.say("g-2", "川教通")
    assert "先绑定身份" in chat.say("g-2", "查毕业证")  # the menu's own request starts its flow
    chat.say("g-2", "6")
    assert "其他查询渠道" in chat.say("g-2", "9")  # not a topic: the list again
    assert "没看懂" in chat.say("g-2", "啊啊啊")


def test_the_no_record_answer_leads_to_the_guide(chat, demo):
    """A bound graduate without a diploma record is told of the other channels; 6 opens them."""
    from sqlalchemy import delete

    from models import Diploma

    rt = chat.app.extensions["gradcert"]
    with rt.sessions() as db:
        db.execute(delete(Diploma))
        db.commit()
    _bind(chat, "g-3", "2016010203")
    reply = chat.say("g-3", "2")
    assert "还没有你的学籍记录" in reply and "回复6看学信网、川教通" in reply
    assert "其他查询渠道" in chat.say("g-3", "6")


def test_a_mismatch_offers_the_other_channels(chat, demo):
    chat.say("g-4", "1")
    chat.say("g-4", "同意")
    chat.say("g-4", "张三")
    chat.say("g-4", "11010519491231002X")
    reply = chat.say("g-4", "2016010203")
    assert "回复3看学信网等其他查询渠道" in reply
    assert "其他查询渠道" in chat.say("g-4", "3")


def test_the_facts_are_the_colleges_settings(make_app):
    app = make_app(
        GRADCERT_CHSI_REPORT_TIME="3-5个工作日",
        GRADCERT_CHSI_FEE="查询免费，认证报告每份30元",
        GRADCERT_CHUANJIAOTONG_TIME="2个工作日内",
        GRADCERT_CHUANJIAOTONG_FEE="查询免费",
    )
    chat = Chat(app)
    chsi = chat.say("g-5", "学信网")
    assert "3-5个工作日" in chsi and "每份30元" in chsi and "2-3个工作日" not in chsi
    provincial = chat.say("g-5", "川教通")
    assert "2个工作日内" in provincial and "费用：查询免费" in provincial


def _bind(chat, openid: str, student_no: str) -> None:
    from sqlalchemy import select

    from models import Account, Binding, Student, utcnow

    chat.say(openid, "菜单")
    rt = chat.app.extensions["gradcert"]
    with rt.sessions() as db:
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


def test_the_custom_menu_buttons_open_the_guide_and_the_lost_certificate(chat):
    res = chat.post(*chat.sim.event("g-6", "CLICK", "MENU_GUIDE"))
    assert "其他查询渠道（回复数字看详情）" in chat.sim.reply_text(res.data)
    res = chat.post(*chat.sim.event("g-6", "CLICK", "MENU_LOST"))
    assert "补办学历证明书要先确认是你本人" in chat.sim.reply_text(res.data)
