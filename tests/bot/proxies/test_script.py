"""Parents acting for graduates, through the real WeChat callback."""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.appeals.notices import ticket_changed
from bot.platform.staff_auth import create_staff
from handlers.jobs import sweep
from models import (
    Account,
    Appeal,
    Attachment,
    AuditEvent,
    Certificate,
    Diploma,
    Proxy,
    Student,
    utcnow,
)
from tests.conftest import Chat, outbox
from tests.stubs import PNG_BYTES, add_media, wechat_api_stub

GRADUATE = ("李小红", "11010519991231105X", "2017020118", "13800000002")
CLERK_PASSWORD = "correct horse battery"


@pytest.fixture
def wx(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    files = {"notary-1": PNG_BYTES}
    add_media(stub, files)
    app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
    from bot.platform.demo import seed_demo

    rt = app.extensions["gradcert"]
    seed_demo(rt)
    with rt.sessions() as db:
        student = db.scalar(select(Student).where(Student.student_no == GRADUATE[2]))
        db.add(
            Diploma(
                student_id=student.id,
                certificate_no="139321202105001234",
                level="专科",
                major="护理",
                study_mode="全日制",
                campus="main",
                grad_date=date(2021, 6, 30),
                source="main",
            )
        )
        create_staff(db, rt.domain.cipher, "clerk", "王老师", "clerk", CLERK_PASSWORD)
        db.commit()
    yield app, Chat(app), stub
    stub.stop()


def _code(chat, phone):
    chat.run_jobs()
    return [m for m in outbox(chat.app) if m["phone"] == phone][-1]["code"]


def _pushed(stub, openid):
    return [
        r.json()["text"]["content"]
        for r in stub.calls("/cgi-bin/message/custom/send")
        if r.json()["touser"] == openid
    ]


def _bind_graduate(chat):
    name, id_number, no, phone = GRADUATE
    chat.say("grad", "1")
    chat.say("grad", "1")
    chat.say("grad", f"{name} {id_number} {no}")
    assert "绑定成功" in chat.say("grad", _code(chat, phone))
    chat.app.extensions["gradcert"].redis.delete(
        *chat.app.extensions["gradcert"].redis.keys("gc:{phone:*")
    )


def _request(chat, openid="mom", relation="1"):
    assert "申请为家人代办" in chat.say(openid, "5")
    assert "父母" in chat.say(openid, "1")
    chat.say(openid, relation)
    assert "代办人个人信息告知" in chat.say(openid, f"{GRADUATE[0]} {GRADUATE[1].lower()}")
    assert "需要毕业生本人同意" in chat.say(openid, "1")


def _service_point_app(make_app, **config):
    """An app (with the demo students) running the village service point pilot."""
    from bot.platform.demo import seed_demo

    app = make_app(GRADCERT_SERVICE_POINT_PILOT=1, **config)
    seed_demo(app.extensions["gradcert"])
    return app, Chat(app)


def _village_acts(chat):
    """The village service point asks, the graduate's code confirms, the notarised authorisation
    is sent and staff approve it: the proxy is active."""
    from bot.proxies import rules as proxies

    _request(chat, "village", relation="4")
    chat.say("village", "1")
    assert "公证书编号" in chat.say("village", _code(chat, GRADUATE[3]))
    chat.say("village", "0")
    with chat.app.extensions["gradcert"].sessions() as db:
        proxy = db.scalar(select(Proxy).order_by(Proxy.id.desc()))
        proxies.document_submitted(proxy, "（2026）某证字第1号")
        proxies.activate(proxy)  # as staff review does
        db.commit()


def _proxy(app):
    with app.extensions["gradcert"].sessions() as db:
        return db.scalar(select(Proxy).order_by(Proxy.id.desc()))


def _approve(app, scope=("lookup", "certificate", "appeal")):
    """A clerk signs in to the console, finds the request in the queue, looks at the photo and
    approves it within `scope`."""
    Chat(app).run_jobs()  # the photo download
    console = app.test_client()
    console.get("/console/login")
    assert (
        console.post(
            "/console/login",
            data={"username": "clerk", "password": CLERK_PASSWORD, "csrf_token": _csrf(console)},
        ).status_code
        == 302
    )
    proxy_id = _proxy(app).id
    queue = console.get("/console/proxies").get_data(as_text=True)
    assert f'href="/console/proxies/{proxy_id}"' in queue and "待审核" in queue
    page = console.get(f"/console/proxies/{proxy_id}").get_data(as_text=True)
    [photo] = re.findall(r'src="(/console/attachments/\d+)"', page)
    assert console.get(photo).data == PNG_BYTES
    res = console.post(
        f"/console/proxies/{proxy_id}/approve",
        data={"csrf_token": _csrf(console), "note": "公证书核对无误", "scope": list(scope)},
    )
    assert res.status_code == 303
    assert _proxy(app).state == "active"


def _csrf(client) -> str:
    with client.session_transaction() as session:
        return session["csrf"]


def test_parent_acts_for_graduate_then_loses_access_when_revoked(wx):
    app, chat, stub = wx
    _bind_graduate(chat)
    _request(chat)
    assert "138****0002" in chat.say("mom", "1")  # the code goes to the graduate's phone
    assert "公证书编号" in chat.say("mom", _code(chat, GRADUATE[3]))
    assert "拍照" in chat.say("mom", "（2026）京东方证字第 123 号")
    assert "拍照" in chat.say("mom", "照片在这")  # a photo is needed
    res = chat.post(*chat.sim.image("mom", "notary-1"))
    assert "学校审核" in chat.sim.reply_text(res.data)
    chat.run_jobs()
    assert (
        _proxy(app).state == "awaiting_review"
        and _proxy(app).notarised_no == "(2026)京东方证字第123号"
    )
    assert (
        "没有生效的代办" in (chat.say("mom", "5"), chat.say("mom", "2"))[1]
    )  # nothing before review

    _approve(app)
    chat.run_jobs()
    assert any(t.startswith("代办已生效") for t in _pushed(stub, "mom"))
    assert any("获准代你办理" in t for t in _pushed(stub, "grad"))
    chat.say("mom", "0")
    chat.say("mom", "5")
    switch = chat.say("mom", "2")
    assert "1 为自己办理" in switch and "2 代 李**（你的孩子）" in switch
    assert "现在代 李**（你的孩子）办理" in chat.say("mom", "2")
    record = chat.say("mom", "2")
    assert record.startswith("【代 李** 办理】") and "139321202105001234" in record
    chat.run_jobs()
    assert any("查询了毕业证书" in t for t in _pushed(stub, "grad"))

    chat.say("mom", "0")
    chat.say("mom", "3")
    assert "请用一两句话" in chat.say("mom", "9")  # the graduate's identity is known
    chat.say("mom", "孩子的毕业证书专业写错了，应该是护理。")
    chat.say("mom", "1")
    assert "能联系到你的手机号" in chat.say("mom", "完成")  # the proxy gives their own number
    chat.say("mom", "13900001111")
    assert "已提交" in chat.say("mom", "1")
    chat.run_jobs()
    assert any("提交了异议申请" in t for t in _pushed(stub, "grad"))
    with app.extensions["gradcert"].sessions() as db:
        appeal = db.scalar(select(Appeal))
        graduate_id = db.scalar(select(Student.id).where(Student.student_no == GRADUATE[2]))
        mom = db.scalar(select(Account).where(Account.user_key == "mom"))
        assert (
            appeal.student_id == appeal.acting_for_student_id == graduate_id
            and appeal.account_id == mom.id
        )
        acted = db.scalars(
            select(AuditEvent).where(
                AuditEvent.actor_account_id == mom.id,
                AuditEvent.action.in_(["view_diploma", "file_appeal"]),
            )
        ).all()
        assert {a.action for a in acted} == {"view_diploma", "file_appeal"}
        assert all(a.subject_student_id == graduate_id for a in acted)

    mine = chat.say("grad", "我的代办人")
    assert "1 父母（代办中" in mine
    assert "已撤销" in chat.say("grad", "1")
    reply = chat.say("mom", "2")
    assert "代办已结束" in reply and "139321202105001234" not in reply
    chat.run_jobs()
    assert any("已撤销你的代办" in t for t in _pushed(stub, "mom"))


def test_graduate_agrees_from_their_own_account(wx):
    app, chat, stub = wx
    _bind_graduate(chat)
    _request(chat)
    assert "已发消息给毕业生" in chat.say("mom", "2")
    chat.run_jobs()
    assert any("同意代办" in t for t in _pushed(stub, "grad"))
    assert "还在等" in chat.say("mom", "好了吗")
    assert "已同意" in chat.say("grad", "同意代办")  # the only request waiting: no number needed
    chat.run_jobs()
    assert any("毕业生已同意" in t for t in _pushed(stub, "mom"))
    assert "公证书编号" in chat.say("mom", "好了吗")
    assert _proxy(app).confirmed_by == "graduate_account"


def test_graduate_can_refuse(wx):
    app, chat, stub = wx
    _bind_graduate(chat)
    _request(chat)
    chat.say("mom", "2")
    assert "已拒绝" in chat.say("grad", f"拒绝代办 {_proxy(app).id}")
    assert "没有同意" in chat.say("mom", "好了吗")


def test_a_refused_request_cannot_be_revived_by_the_code(wx):
    app, chat, _ = wx
    _bind_graduate(chat)
    _request(chat)
    assert "138****0002" in chat.say("mom", "1")
    code = _code(chat, GRADUATE[3])
    assert "已拒绝" in chat.say(
        "grad", f"拒绝代办 {_proxy(app).id}"
    )  # from their own account, meanwhile
    assert "代办申请已经结束" in chat.say("mom", code)
    assert _proxy(app).state == "revoked" and _proxy(app).graduate_confirmed_at is None


def test_a_request_revoked_during_the_document_step_never_reaches_review(wx):
    app, chat, _ = wx
    _bind_graduate(chat)
    _request(chat)
    chat.say("mom", "1")
    assert "公证书编号" in chat.say("mom", _code(chat, GRADUATE[3]))
    assert "拍照" in chat.say("mom", "2026京东方证字第123号")
    chat.say("grad", "我的代办人")
    assert "已撤销" in chat.say("grad", "1")
    res = chat.post(*chat.sim.image("mom", "notary-1"))
    assert "代办申请已经结束" in chat.sim.reply_text(res.data)
    assert _proxy(app).state == "revoked" and _proxy(app).notarised_no is None
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalars(select(Attachment)).all() == []


def test_after_a_wrong_id_number_the_corrected_number_alone_will_do(wx):
    _, chat, _ = wx
    assert "申请为家人代办" in chat.say("mom", "5")
    chat.say("mom", "1")
    chat.say("mom", "1")
    wrong = GRADUATE[1][:16] + ("1" if GRADUATE[1][16] != "1" else "2") + GRADUATE[1][17]
    assert "最后一位对不上" in chat.say("mom", f"{GRADUATE[0]} {wrong}")
    assert "代办人个人信息告知" in chat.say("mom", GRADUATE[1])  # the name given before stands


def test_only_direct_relatives_and_no_self_proxy(wx):
    app, chat, _ = wx
    chat.say("bro", "5")
    chat.say("bro", "1")
    assert "其他亲属不能代办" in chat.say("bro", "兄弟")
    _bind_graduate(chat)
    chat.say("grad", "5")
    chat.say("grad", "1")
    chat.say("grad", "1")
    assert "不需要代办" in chat.say("grad", f"{GRADUATE[0]} {GRADUATE[1]}")


def _acting_at_the_diploma(app, chat, scope) -> str:
    """Mom's request confirmed, documented and approved within `scope`; she acts for the graduate
    and opens the diploma. Returns the diploma reply."""
    _request(chat)
    chat.say("mom", "1")
    chat.say("mom", _code(chat, GRADUATE[3]))
    chat.say("mom", "2026123")
    chat.post(*chat.sim.image("mom", "notary-1"))
    _approve(app, scope=scope)
    chat.say("mom", "5")
    chat.say("mom", "2")
    chat.say("mom", "2")
    return chat.say("mom", "2")


def test_scope_and_expiry_are_enforced(wx):
    app, chat, _ = wx
    rt = app.extensions["gradcert"]
    diploma = _acting_at_the_diploma(app, chat, ["lookup"])  # the clerk ticks only the lookup
    assert "139321202105001234" in diploma
    assert "代办范围不包括" in chat.say("mom", "1")  # no certificates in this scope
    chat.say("mom", "0")
    assert "代办范围不包括" in chat.say("mom", "3")
    with rt.sessions() as db:
        proxy = db.scalar(select(Proxy))
        proxy.valid_until = utcnow() - timedelta(minutes=1)
        db.commit()
    assert "代办已结束" in chat.say("mom", "2")
    with app.app_context():
        sweep()
    assert _proxy(app).state == "expired"


def test_a_scope_narrowed_mid_way_stops_the_certificate_step(wx):
    app, chat, _ = wx
    _acting_at_the_diploma(app, chat, ("lookup", "certificate", "appeal"))
    assert "天" in chat.say("mom", "1")  # asked for how many days
    with app.extensions["gradcert"].sessions() as db:  # staff narrow the scope meanwhile
        db.scalar(select(Proxy)).scope = "lookup"
        db.commit()
    assert "代办范围不包括" in chat.say("mom", "90")
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalars(select(Certificate)).all() == []  # not issued as if by the graduate


def test_the_relation_menu_offers_direct_relatives_only(make_app):
    app = make_app()
    from bot.platform.demo import seed_demo

    seed_demo(app.extensions["gradcert"])
    chat = Chat(app)
    chat.say("mom", "5")
    menu = chat.say("mom", "1")
    assert "3 子女" in menu and "4" not in menu and "村级事务中心" not in menu
    assert "村" not in chat.say("mom", "4")  # not a choice: asked again, 1 to 3
    assert "告知" not in chat.say("mom", "4")


def test_the_service_point_pilot_never_waives_consent_or_review(make_app):
    app, chat = _service_point_app(make_app)
    chat.say("village", "5")
    menu = chat.say("village", "1")
    assert "4 村级事务中心工作人员（试点" in menu and "只有父母、配偶、子女" not in menu
    chat.say("village", "4")
    assert "代办人个人信息告知" in chat.say("village", f"{GRADUATE[0]} {GRADUATE[1]}")
    assert "需要毕业生本人同意" in chat.say("village", "1")
    chat.say("village", "1")
    assert "公证书编号" in chat.say("village", _code(chat, GRADUATE[3]))
    assert _proxy(app).state == "awaiting_document" and _proxy(app).relation == "service_point"
    assert "GRADCERT_SERVICE_POINT_NEEDS_DOCUMENT" not in app.config


def test_the_graduate_is_told_who_asks_in_the_right_words(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    app, chat = _service_point_app(make_app, WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
    try:
        _bind_graduate(chat)
        _request(chat, "village", relation="4")
        assert "已发消息给毕业生" in chat.say("village", "2")
        chat.run_jobs()
        asked = [t for t in _pushed(stub, "grad") if "同意代办" in t]
        assert asked and "村级事务中心" in asked[-1] and "你的村级事务中心" not in asked[-1]
        assert "已同意" in chat.say("grad", "同意代办")
        _village_acts_after_consent(app)
        said = [chat.say("village", m) for m in ("0", "5", "2", "2", "2")]  # a look-up
        chat.run_jobs()
        told = [t for t in _pushed(stub, "grad") if "刚刚代你" in t]
        assert told, (said, _pushed(stub, "grad"))
        assert "你的家人" not in told[-1] and "村级事务中心" in told[-1]
    finally:
        stub.stop()


def _village_acts_after_consent(app):
    from bot.proxies import rules as proxies

    with app.extensions["gradcert"].sessions() as db:
        proxy = db.scalar(select(Proxy).order_by(Proxy.id.desc()))
        proxies.document_submitted(proxy, "（2026）某证字第1号")
        proxies.activate(proxy)
        db.commit()


def test_with_two_requests_waiting_the_graduate_names_one(wx):
    app, chat, _ = wx
    _bind_graduate(chat)
    _request(chat)
    chat.say("mom", "2")
    _request(chat, "stranger")
    chat.say("stranger", "2")
    assert "申请号" in chat.say(
        "grad", "同意代办"
    )  # which one? the newest is not always the parent
    assert _proxy(app).state == "awaiting_graduate"


def test_a_proxy_who_deletes_their_data_can_no_longer_act(make_app):
    app, chat = _service_point_app(make_app)
    _village_acts(chat)
    chat.say("village", "0")
    assert "结束代办授权（你代别人的" in chat.say("village", "删除我的信息")
    assert "代办授权" in chat.say("village", "1")
    proxy = _proxy(app)
    assert proxy.state == "revoked" and proxy.revoked_by == "proxy"
    assert "没有生效的代办" in (chat.say("village", "5"), chat.say("village", "2"))[1]
    with app.extensions["gradcert"].sessions() as db:
        deleted = db.scalar(select(AuditEvent).where(AuditEvent.action == "delete_personal_data"))
        village = db.get(Account, deleted.actor_account_id)
        rows = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.actor_account_id == village.id)
            .order_by(AuditEvent.id)
        ).all()
        assert [(a.action, a.subject_student_id) for a in rows[-2:]] == [
            ("proxy_revoke", proxy.student_id),
            ("delete_personal_data", None),
        ]


def test_after_revocation_the_proxys_appeal_belongs_to_the_graduate_alone(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    from bot.appeals import rules as appeals

    app, chat = _service_point_app(make_app, WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
    rt = app.extensions["gradcert"]
    _bind_graduate(chat)
    _village_acts(chat)
    chat.say("village", "5")
    chat.say("village", "2")
    assert "现在代 李**" in chat.say("village", "2")
    chat.say("village", "3")
    chat.say("village", "9")
    chat.say("village", "毕业证书上的专业写错了，应该是护理。")
    chat.say("village", "1")
    chat.say("village", "完成")
    chat.say("village", "13900001111")
    assert "已提交" in chat.say("village", "1")
    assert "GA" in chat.say("grad", "4")  # the graduate sees the ticket filed for them

    chat.say("grad", "我的代办人")
    assert "已撤销" in chat.say("grad", "1")
    chat.run_jobs()
    with rt.sessions() as db:
        appeal = db.scalar(select(Appeal))
        asked = appeals.change_status(
            db, appeal, appeals.AppealStatus.NEED_MORE_INFO, "请补充李小红的身份证照片"
        )
        db.commit()
        rt.run_effects(None, [ticket_changed(appeal.id, asked.note, asked.id)])
        ticket = appeal.ticket_no
    chat.run_jobs()
    assert any("请补充李小红的身份证照片" in t for t in _pushed(stub, "grad"))
    assert not any(
        "身份证照片" in t for t in _pushed(stub, "village")
    )  # their authorisation has ended
    assert ticket not in chat.say("village", "4")
    with rt.sessions() as db:
        village = db.scalar(select(Account).where(Account.user_key == "village"))
        assert (
            appeals.open_count(db, village.id) == 0
        )  # the graduate's ticket no longer counts against them
    chat.say("village", "0")
    assert "补充" not in chat.say(
        "village", "这是身份证"
    )  # nothing attaches to the graduate's ticket
    assert "已补充" in chat.say("grad", "好的，照片稍后发")  # the graduate answers it themselves
    with rt.sessions() as db:
        appeal = db.scalar(select(Appeal))
        assert appeal.status == "under_review"
    stub.stop()


def test_the_graduate_revokes_the_proxy_they_were_shown_even_if_the_list_changed(wx):
    app, chat, _ = wx
    _bind_graduate(chat)
    _request(chat, "mom")
    chat.say("mom", "1")
    assert "公证书编号" in chat.say("mom", _code(chat, GRADUATE[3]))
    mom = _proxy(app)
    assert "1 父母（等待公证书" in chat.say("grad", "我的代办人")
    _request(chat, "stranger")  # a newer request now heads the list
    assert "已撤销" in chat.say("grad", "1")
    with app.extensions["gradcert"].sessions() as db:
        states = {p.id: p.state for p in db.scalars(select(Proxy))}
    assert states[mom.id] == "revoked" and states[_proxy(app).id] == "awaiting_graduate"


def test_one_live_authorisation_per_proxy_and_graduate(make_app):
    app, chat = _service_point_app(make_app)
    _village_acts(chat)
    chat.say("village", "0")
    chat.say("village", "5")
    chat.say("village", "1")
    chat.say("village", "4")
    assert "你已经可以代 李** 办理了" in chat.say("village", f"{GRADUATE[0]} {GRADUATE[1]}")
    with app.extensions["gradcert"].sessions() as db:
        assert len(db.scalars(select(Proxy)).all()) == 1


def test_acting_for_someone_outlasts_the_30_minute_idle_limit_at_the_menu(make_app):
    app, chat = _service_point_app(make_app)
    rt = app.extensions["gradcert"]
    _village_acts(chat)
    chat.say("village", "5")
    chat.say("village", "2")
    assert "现在代 李**" in chat.say("village", "2")
    state = "gc:{wx:%s:village}:state" % app.config["WECHAT_APP_ID"]
    assert rt.redis.ttl(state) > 3600  # kept a day: the next message still acts for the graduate
    chat.say("village", "3")  # half-way through a form: the usual 30 minutes
    assert 0 < rt.redis.ttl(state) <= 1800


def test_expiring_proxies_are_warned_a_week_before(wx):
    app, chat, stub = wx
    _bind_graduate(chat)
    _request(chat)
    chat.say("mom", "1")
    chat.say("mom", _code(chat, GRADUATE[3]))
    chat.say("mom", "2026123")
    chat.post(*chat.sim.image("mom", "notary-1"))
    _approve(app)
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        db.scalar(select(Proxy)).valid_until = utcnow() + timedelta(days=6)
        db.commit()
    with app.app_context():
        assert sweep() == 1
        assert sweep() == 0  # warned once
    chat.run_jobs()
    assert any("将在" in t and "到期" in t for t in _pushed(stub, "mom"))
    assert any("授权将在" in t for t in _pushed(stub, "grad"))
