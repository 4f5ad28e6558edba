"""Alipay gateway notifications (/alipay/notify) and the status messages of both mini-programs."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.appeals.notices import ticket_changed
from models import AlipayNotification, Appeal, AppealStatus
from tests.channel_stubs import signed_notification


def _stored(app) -> int:
    with app.extensions["gradcert"].sessions() as db:
        return db.scalar(select(func.count()).select_from(AlipayNotification))


def _post(app, form: dict):
    return app.test_client().post("/alipay/notify", data=form)


def test_a_replayed_notification_is_stored_once(mini_app, keys):
    form = signed_notification(
        keys["gateway"],
        notify_id="n-0001",
        notify_type="open_app_mini_event",
        biz_content='{"event":"x"}',
    )
    for _ in range(3):
        res = _post(mini_app, form)
        assert res.status_code == 200 and res.data == b"success"
    assert _stored(mini_app) == 1
    with mini_app.extensions["gradcert"].sessions() as db:
        row = db.scalar(select(AlipayNotification))
        assert row.notify_type == "open_app_mini_event" and "sign" not in row.payload


def test_forged_unsigned_and_foreign_notifications_are_refused(mini_app, keys):
    forged = signed_notification(
        keys["app"], notify_id="n-0002", notify_type="x"
    )  # not Alipay's key
    unsigned = {
        k: v
        for k, v in signed_notification(keys["gateway"], notify_id="n-0003").items()
        if k != "sign"
    }
    tampered = signed_notification(keys["gateway"], notify_id="n-0004", notify_type="x")
    tampered["notify_type"] = "y"
    wrong_type = dict(signed_notification(keys["gateway"], notify_id="n-0005"), sign_type="RSA")
    foreign = signed_notification(keys["gateway"], notify_id="n-0006", app_id="2021999999999999")
    stale = signed_notification(
        keys["gateway"], notify_id="n-0007", notify_time="2020-01-01 00:00:00"
    )
    for form in (
        forged,
        unsigned,
        tampered,
        wrong_type,
        foreign,
        stale,
        {},
        {"sign": "%%%", "sign_type": "RSA2"},
    ):
        res = _post(mini_app, form)
        assert res.status_code == 400 and res.data == b"fail", form
    assert _stored(mini_app) == 0


def test_appeal_status_reaches_a_wechat_mini_program_user(mini, mini_app, stubs):
    mini.login("wxa", "o-wxa-appeal")
    res = mini.post(
        "/appeals",
        {
            "category": "other",
            "description": "信息有误需要更正",
            "contact_phone": "13912345678",
            "name": "张三",
            "id_number": "11010519491231002X",
        },
    )
    assert res.status_code == 201, res.json
    with mini_app.extensions["gradcert"].sessions() as db:
        appeal = db.scalar(select(Appeal))
        assert appeal.student_id is None and appeal.claimed_name == "张三"
        from bot.appeals.rules import change_status

        change_status(db, appeal, AppealStatus.UNDER_REVIEW, "")
        db.commit()
        appeal_id, ticket = appeal.id, appeal.ticket_no
    mini_app.extensions["gradcert"].run_effects(None, [ticket_changed(appeal_id, None)])
    mini.run_jobs()
    [call] = stubs["wxa"].calls("/cgi-bin/message/subscribe/send")
    body = call.json()
    assert body["touser"] == "o-wxa-appeal" and body["template_id"] == "TPL-WXA-APPEAL"
    assert (
        body["data"]["character_string1"]["value"] == ticket
        and body["data"]["phrase2"]["value"] == "处理中"
    )
    assert body["page"] == f"pages/appeals/detail?ticket={ticket}"


def test_an_alipay_form_id_carries_at_most_three_messages(mini, mini_app, stubs):
    mini.login("alipay", "2088000000000040")
    res = mini.post(
        "/appeals",
        {
            "category": "other",
            "description": "信息有误需要更正",
            "contact_phone": "13912345678",
            "name": "张三",
            "id_number": "11010519491231002X",
            "form_id": "FORM-9",
        },
    )
    appeal_id = None
    with mini_app.extensions["gradcert"].sessions() as db:
        appeal_id = db.scalar(select(Appeal.id).where(Appeal.ticket_no == res.json["ticket_no"]))
    for _ in range(4):
        mini_app.extensions["gradcert"].run_effects(None, [ticket_changed(appeal_id, "备注")])
    mini.run_jobs()
    assert [m["form_id"] for m in stubs["alipay"].sent] == ["FORM-9"] * 3
