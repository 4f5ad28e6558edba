"""The counters that protect identity survive a Redis restart without persistence (issue 12):
identity mismatches, wrong codes and the lock they lead to are put back from SQL."""

from datetime import timedelta

from sqlalchemy import select

from bot.platform import counters
from models import SecurityCounter, utcnow
from tests.conftest import outbox


def _start(chat, openid):
    assert "个人信息告知" in chat.say(openid, "1")
    assert "请发送你的姓名" in chat.say(openid, "同意")


def _again(chat, openid):
    """Binding again after a restart: the consent is in SQL, so the name is asked at once."""
    assert "请发送你的姓名" in chat.say(openid, "1")


def _restart_redis(redis):
    """What a restart without persistence leaves: nothing."""
    redis.flushdb()


def _rows(app):
    with app.extensions["gradcert"].sessions() as db:
        return db.scalars(select(SecurityCounter)).all()


def test_the_mismatch_limit_survives_a_redis_restart(app, chat, demo, redis):
    _, _, id_number, _, _ = demo["李小红"]
    _start(chat, "m1")
    for _ in range(5):
        assert "对不上" in chat.say("m1", f"李小虹 {id_number} 2017020118")
        chat.say("m1", "1")
    [row] = _rows(app)
    assert row.kind == "mismatch" and row.count == 5 and "m1" not in row.key_digest
    _restart_redis(redis)
    _again(chat, "m1")
    reply = chat.say("m1", f"李小红 {id_number} 2017020118")
    assert "次数太多" in reply and ("60分钟" in reply or "59分钟" in reply)
    assert outbox(app) == []


def test_the_wrong_code_lock_survives_a_redis_restart(app, chat, demo, redis):
    _, _, id_number, _, _ = demo["李小红"]
    _start(chat, "m2")
    chat.say("m2", f"李小红 {id_number} 2017020118")
    for _ in range(5):
        chat.say("m2", "000001")
    _restart_redis(redis)  # midway: the five wrong codes are remembered
    _again(chat, "m2")
    assert "6位数字" in chat.say("m2", f"李小红 {id_number} 2017020118")
    for left in (4, 3, 2, 1):
        assert f"{left}次" in chat.say("m2", "000001")
    assert "暂停发送1小时" in chat.say("m2", "000001")  # ten in a row, across the restart
    _restart_redis(redis)
    _again(chat, "m2")
    reply = chat.say("m2", f"李小红 {id_number} 2017020118")
    assert "已暂停发送验证码" in reply
    assert [r.kind for r in _rows(app)] == ["otp"]  # the lock; the count ended with it


def test_a_right_code_clears_the_count_and_the_sweep_purges_ended_windows(app, chat, demo, redis):
    _, _, id_number, phone, _ = demo["李小红"]
    _start(chat, "m3")
    chat.say("m3", f"李小红 {id_number} 2017020118")
    chat.run_jobs()
    code = [m for m in outbox(app) if m["phone"] == phone][-1]["code"]
    chat.say("m3", "000001" if code != "000001" else "000002")
    assert [r.kind for r in _rows(app)] == ["otp"]
    assert "绑定成功" in chat.say("m3", code)
    assert _rows(app) == []
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        db.add(SecurityCounter(key_digest="a" * 64, kind="otp", count=3, expires_at=utcnow()))
        db.add(
            SecurityCounter(
                key_digest="b" * 64, kind="otp", count=3, expires_at=utcnow() + timedelta(hours=1)
            )
        )
        db.commit()
        assert counters.purge_expired(db) == 1
        db.commit()
    assert [r.key_digest for r in _rows(app)] == ["b" * 64]
