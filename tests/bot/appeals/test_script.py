"""Appeals through the real WeChat callback: self-check, filing, photos, lifecycle messages."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.appeals import rules as appeals
from bot.appeals.notices import ticket_changed
from bot.platform.workdays import today_in_china
from handlers.jobs import sweep
from models import Appeal, AppealEvent, AppealStatus, Attachment, as_utc, utcnow
from tests.conftest import Chat
from tests.stubs import PNG_BYTES, add_media, wechat_api_stub


@pytest.fixture
def wx(make_app, demo_rows=None):
    """An app whose WeChat API (push, media) is a local stub; yields (app, chat, stub, media files)."""
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    files = {}
    add_media(stub, files)
    app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
    from bot.platform.demo import seed_demo

    seed_demo(app.extensions["gradcert"])
    yield app, Chat(app), stub, files
    stub.stop()


def _appeals(app):
    with app.extensions["gradcert"].sessions() as db:
        return db.scalars(select(Appeal).order_by(Appeal.id)).all()


def _to_photos(chat, openid, cause="3"):
    chat.say(openid, "3")
    chat.say(openid, cause)
    chat.say(openid, "王芳 440306200001011231")
    chat.say(openid, "我改过名字，原来叫王小芳，现在查不到证书。")
    return chat.say(openid, "1")


def test_unmatched_user_files_with_photos_and_gets_a_ticket(wx):
    app, chat, stub, files = wx
    chat.say("a1", "1")
    chat.say("a1", "1")
    assert "学号" in chat.say("a1", "王小芳 440306200001011231")
    assert "对不上" in chat.say("a1", "跳过")  # not the registered name
    assert "1 姓名拼音" in chat.say("a1", "2")
    assert "请用一两句话" in chat.say("a1", "3")  # name change: identity carried over from binding
    chat.say("a1", "我改过名字，原来叫王小芳，现在查不到证书。")
    assert "姓名变更证明" in chat.say("a1", "2026-12-31")
    assert "需要照片" in chat.say("a1", "完成")  # the category needs a document
    files["m-1"] = PNG_BYTES
    files["m-2"] = b"GIF89a not allowed"
    for media in ("m-1", "m-2"):
        res = chat.post(*chat.sim.image("a1", media))
        assert "张照片已发来" in chat.sim.reply_text(res.data)
    assert "能联系到你的手机号" in chat.say("a1", "完成")
    summary = chat.say("a1", "139 1234 5678")
    assert "改过名字" in summary and "照片：2张" in summary and "139****5678" in summary
    reply = chat.say("a1", "1")
    assert "GA" in reply and "已按急用处理" in reply
    [appeal] = _appeals(app)
    assert appeal.ticket_no.startswith("GA") and appeal.ticket_no.endswith("-0001")
    assert appeal.urgent and appeal.claimed_name == "王小芳" and appeal.student_id is None
    assert appeal.due_date == appeals.due_date(
        today_in_china(as_utc(appeal.created_at)), True
    )  # China's date, not UTC's
    assert b"440306200001011231" not in appeal.claimed_id_enc
    chat.run_jobs()
    with app.extensions["gradcert"].sessions() as db:
        states = {a.media_id: (a.state, a.error) for a in db.scalars(select(Attachment))}
        events = [e.kind for e in db.scalars(select(AppealEvent))]
    assert states == {"m-1": ("stored", None), "m-2": ("rejected", "not a JPEG or PNG")}
    assert events == ["submitted", "status"]  # the unusable photo is asked for again
    assert _appeals(app)[0].status == "need_more_info"


def test_spelling_and_x_loop_back_to_binding(wx):
    app, chat, _, _ = wx
    chat.say("a2", "3")
    assert "拼音" in chat.say("a2", "1")
    assert "个人信息告知" in chat.say("a2", "1")
    chat.say("a2", "0")
    chat.say("a2", "3")
    assert "X" in chat.say("a2", "2")
    assert "身份证号" in chat.say("a2", "2")  # file anyway: unbound, so the identity comes next


def test_bound_user_uses_the_phone_on_file_and_three_open_is_the_limit(wx):
    app, chat, _, _ = wx
    from tests.bot.binding.test_script import _code

    chat.say("a3", "1")
    chat.say("a3", "1")
    chat.say("a3", "张三 510821199803124418 2016010203")
    chat.say("a3", _code(chat, "13800000001"))
    for n in range(3):
        chat.say("a3", "3")
        assert "请用一两句话" in chat.say("a3", "9")  # bound: no identity step
        chat.say("a3", f"毕业证书上的专业名称不对，第{n}次")
        chat.say("a3", "1")
        assert "138****0001" in chat.say("a3", "完成")
        assert "请确认" in chat.say("a3", "1")
        assert "已提交" in chat.say("a3", "1")
    assert "3个正在处理" in chat.say("a3", "3")
    assert len(_appeals(app)) == 3
    assert all(a.student_id is not None for a in _appeals(app))


def test_a_confirmation_delivered_three_times_files_once(wx):
    app, chat, _, _ = wx
    _to_photos(chat, "a4", cause="9")
    chat.say("a4", "完成")
    chat.say("a4", "13912345678")
    replies = {chat.say("a4", "1", msg_id="5550001") for _ in range(3)}
    assert len(replies) == 1 and "已提交" in replies.pop()
    assert len(_appeals(app)) == 1


def test_nothing_half_written_when_filing_fails(wx, monkeypatch):
    app, chat, _, _ = wx
    _to_photos(chat, "a5", cause="9")
    chat.say("a5", "完成")
    chat.say("a5", "13912345678")
    original = appeals.file_appeal

    def broken(db, appeal, now=None):
        original(db, appeal, now)
        raise RuntimeError("database went away")

    monkeypatch.setattr(appeals, "file_appeal", broken)
    assert "没有保存" in chat.say("a5", "1")
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(func.count()).select_from(Appeal)) == 0
        assert db.scalar(select(func.count()).select_from(AppealEvent)) == 0


def test_status_changes_are_pushed_and_replies_attach_to_a_ticket_waiting_for_information(wx):
    app, chat, stub, files = wx
    _to_photos(chat, "a6", cause="9")
    chat.say("a6", "完成")
    chat.say("a6", "13912345678")
    chat.say("a6", "1")
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        appeal = db.scalar(select(Appeal))
        appeals.change_status(db, appeal, AppealStatus.NEED_MORE_INFO, "请发送毕业证书照片")
        db.commit()
        rt.run_effects(None, [ticket_changed(appeal.id, "请发送毕业证书照片")])
    chat.run_jobs()
    pushed = stub.calls("/cgi-bin/message/custom/send")[-1].json()
    assert pushed["touser"] == "a6" and "需要补充材料" in pushed["text"]["content"]
    assert "请发送毕业证书照片" in pushed["text"]["content"]
    assert "直接回复文字或发照片" in chat.say("a6", "4")
    assert "已补充到异议申请" in chat.say("a6", "我的毕业证书照片在下一条")
    files["m-9"] = PNG_BYTES
    assert "已补充到异议申请" in chat.sim.reply_text(chat.post(*chat.sim.image("a6", "m-9")).data)
    chat.run_jobs()
    with rt.sessions() as db:
        appeal = db.scalar(select(Appeal))
        assert appeal.status == "under_review"
        assert [e.kind for e in appeal.events][-3:] == ["info", "status", "info"]
        assert [a.state for a in appeal.attachments] == ["stored"]
        appeals.change_status(
            db, appeal, AppealStatus.REJECTED, "没有找到你的学籍", next_route="chsi"
        )
        db.commit()
        rt.run_effects(None, [ticket_changed(appeal.id, "没有找到你的学籍")])
    chat.run_jobs()
    text = stub.calls("/cgi-bin/message/custom/send")[-1].json()["text"]["content"]
    assert "未通过" in text and "学信网" in text and len(text) <= 200
    assert "1 绑定身份" in chat.say("a6", "随便说说")  # the ticket no longer takes information
    assert "没看懂" in chat.say("a6", "随便说说")
    with rt.sessions() as db:
        assert [e.kind for e in db.scalar(select(Appeal)).events][-1] == "status"


def test_lifecycle_rules(wx):
    app, chat, _, _ = wx
    _to_photos(chat, "a7", cause="9")
    chat.say("a7", "完成")
    chat.say("a7", "13912345678")
    chat.say("a7", "1")
    with app.extensions["gradcert"].sessions() as db:
        appeal = db.scalar(select(Appeal))
        with pytest.raises(appeals.TransitionNotAllowed):
            appeals.change_status(db, appeal, AppealStatus.CLOSED, "x")
        with pytest.raises(appeals.TransitionNotAllowed):
            appeals.change_status(db, appeal, AppealStatus.REJECTED, "x")  # no next route


def test_tickets_left_seven_days_close_and_the_filer_is_told(wx):
    app, chat, stub, _ = wx
    _to_photos(chat, "a8", cause="9")
    chat.say("a8", "完成")
    chat.say("a8", "13912345678")
    chat.say("a8", "1")
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        appeal = db.scalar(select(Appeal))
        appeals.change_status(
            db, appeal, AppealStatus.RESOLVED, "已更正姓名", now=utcnow() - timedelta(days=8)
        )
        db.commit()
    with app.app_context():
        assert sweep() == 1
    chat.run_jobs()
    assert _appeals(app)[0].status == "closed"
    told = stub.calls("/cgi-bin/message/custom/send")[-1].json()["text"]["content"]
    with rt.sessions() as db:  # the timeline (API history, console) says what the filer was told
        closing = db.scalars(
            select(AppealEvent).where(AppealEvent.to_status == AppealStatus.CLOSED)
        ).one()
    assert closing.note == appeals.AUTO_CLOSE_NOTE and closing.note in told


def test_due_dates_count_working_days():
    from datetime import date

    assert appeals.due_date(date(2026, 9, 29), urgent=False) == date(
        2026, 10, 12
    )  # over National Day
    assert appeals.due_date(date(2026, 9, 29), urgent=True) == date(2026, 10, 8)


def test_a_state_write_lost_after_filing_never_files_twice(wx, monkeypatch):
    """Review finding: Redis failing between the SQL commit and the state commit."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    app, chat, _, _ = wx
    _to_photos(chat, "a9", cause="9")
    chat.say("a9", "完成")
    chat.say("a9", "13912345678")
    storage = app.extensions["gradcert"].storage
    real_commit = storage.commit
    failures = [1]

    def flaky(*args, **kwargs):
        if failures:
            failures.pop()
            raise RedisConnectionError("redis went away")
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(storage, "commit", flaky)
    first = chat.say("a9", "1", msg_id="8880001")
    assert "已提交" in first  # the truth, not "system busy"
    assert (
        chat.post(*chat.sim.text("a9", "1", msg_id="8880001")).status_code == 200
    )  # WeChat's retry
    again = chat.say("a9", "1")  # the user, still at the summary, sends 1 again
    assert "已提交" in again and first.split("申请编号 ")[1][:15] in again
    assert len(_appeals(app)) == 1
