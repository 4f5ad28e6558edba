"""The retention periods (settings, told in the consent notice) are enforced by the upkeep sweep:
closed tickets lose their personal fields and photos, old audit rows and Alipay notifications go."""

from datetime import timedelta

from sqlalchemy import select

from bot.account.erasure import ERASED
from handlers.jobs import sweep
from models import AlipayNotification, Appeal, AppealStatus, AuditEvent, utcnow
from tests.conftest import Chat


def _file(chat, openid):
    chat.say(openid, "3")
    chat.say(openid, "9")
    chat.say(openid, "王芳 440306200001011231")
    chat.say(openid, "专业名称不对，电话13912345678")
    chat.say(openid, "1")
    chat.say(openid, "完成")
    chat.say(openid, "13800000009")
    assert "已提交" in chat.say(openid, "1")


def test_the_sweep_enforces_the_retention_periods(make_app):
    app = make_app(GRADCERT_KEEP_CLOSED_APPEALS_DAYS=30, GRADCERT_KEEP_AUDIT_DAYS=365)
    from bot.platform.demo import seed_demo

    rt = app.extensions["gradcert"]
    seed_demo(rt)
    chat = Chat(app)
    assert "工单关闭30天后清除内容和照片；操作记录保存1年" in chat.say("r0", "1")
    _file(chat, "r1")
    _file(chat, "r2")
    long_ago = utcnow() - timedelta(days=400)
    with rt.sessions() as db:
        old, recent = db.scalars(select(Appeal).order_by(Appeal.id)).all()
        old.status, old.status_changed_at = AppealStatus.CLOSED, utcnow() - timedelta(days=31)
        recent.status, recent.status_changed_at = AppealStatus.CLOSED, utcnow() - timedelta(days=29)
        db.add(AuditEvent(action="old", at=long_ago))
        for n, at in ((1, long_ago), (2, utcnow())):
            db.add(
                AlipayNotification(
                    notify_id=f"n{n}", notify_type="t", app_id="a", payload="{}", received_at=at
                )
            )
        db.commit()
    with app.app_context():
        sweep()
    with rt.sessions() as db:
        old, recent = db.scalars(select(Appeal).order_by(Appeal.id)).all()
        assert old.description == ERASED and old.claimed_name is None
        assert old.claimed_id_enc is None and old.contact_phone_enc is None
        assert recent.description.startswith("专业名称不对") and recent.claimed_name == "王芳"
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "old")) is None
        assert db.scalars(select(AuditEvent)).all()  # the recent trail stays
        assert [n.notify_id for n in db.scalars(select(AlipayNotification))] == ["n2"]
