"""The engine's hot path: what one message costs (SQL statements, Redis round trips), the cached
profile and its invalidation, leases that outlive no worker, and faults answered without losing
the form. Through the real callback, a real Redis and a real database."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from bot.core import keys
from bot.core.flow import Outcome
from bot.core.messages import Effect, Reply
from bot.core.state import Conversation, Profile
from bot.router import FLOWS
from models import Binding, BindingState
from tests.conftest import Chat, outbox
from tests.costs import Costs
from tests.faults import database_unreachable

APP = "wxtestapp0000001"


def _tag(openid: str) -> str:
    return "{wx:%s:%s}" % (APP, openid)


def _bind(chat: Chat, openid: str, person: tuple) -> None:
    no, name, id_number, phone, _ = person
    redis = chat.app.extensions["gradcert"].redis
    for key in redis.keys("gc:{phone:*") + redis.keys("gc:*:otp:cool"):
        redis.delete(key)  # another code for the same phone at once
    chat.say(openid, "1")
    chat.say(openid, "同意")
    chat.say(openid, name)
    chat.say(openid, id_number)
    chat.say(openid, no)
    chat.run_jobs()
    code = [m for m in outbox(chat.app) if m["phone"] == phone][-1]["code"]
    assert "绑定成功" in chat.say(openid, code)


def test_a_bound_user_at_the_menu_costs_no_sql_and_two_redis_round_trips(
    app, chat, demo, monkeypatch
):
    _bind(chat, "hot1", demo["李小红"])
    costs = Costs(app, monkeypatch)
    sql, _ = costs.measure(lambda: chat.say("hot1", "菜单"))  # the profile is read once...
    assert sql == 1, costs.sql  # ...in one query (the account, its binding, the graduate)
    replies = []
    sql, trips = costs.measure(lambda: replies.append(chat.say("hot1", "菜单", msg_id="555")))
    assert "已绑定：李**" in replies[0]
    assert (sql, trips) == (0, 2), costs.sql
    again = []
    sql, trips = costs.measure(lambda: again.append(chat.say("hot1", "菜单", msg_id="555")))
    assert again == replies and (sql, trips) == (0, 1)  # a retry: one round trip


def test_a_new_users_first_message(app, chat, monkeypatch):
    chat.say("hot-warm", "你好")  # connections opened, scripts loaded
    costs = Costs(app, monkeypatch)
    replies = []
    sql, trips = costs.measure(lambda: replies.append(chat.say("hot-new", "你好")))
    assert "1 绑定身份" in replies[0]
    assert trips == 2
    assert len([s for s in costs.sql if s.lstrip().upper().startswith(("SELECT", "INSERT"))]) <= 3


def test_the_cached_profile_follows_every_change_of_binding(app, chat, demo):
    """A stale cache must never show one person's graduate to another account."""
    rt = app.extensions["gradcert"]
    _bind(chat, "pa", demo["李小红"])
    assert "已绑定：李**" in chat.say("pa", "菜单")
    assert rt.redis.hget(keys.profile(_tag("pa")), "bound")  # cached
    # another account of the channel takes the graduate: pa's cache goes with its binding
    _bind(chat, "pb", demo["李小红"])
    assert "已绑定" not in chat.say("pa", "菜单")
    assert "已绑定：李**" in chat.say("pb", "菜单")
    # a change made outside the chat (a console, a job) invalidates it too
    with rt.sessions() as db:
        binding = db.scalar(select(Binding).where(Binding.state == BindingState.ACTIVE))
        binding.state = BindingState.REMOVED
        db.commit()
    assert "已绑定" not in chat.say("pb", "菜单")
    # unbind through the chat
    _bind(chat, "pa", demo["李小红"])
    assert "已绑定：李**" in chat.say("pa", "菜单")
    chat.say("pa", "解绑")
    chat.say("pa", "确定")
    assert "已绑定" not in chat.say("pa", "菜单")


def test_a_profile_read_before_a_change_is_never_cached(app):
    storage = app.extensions["gradcert"].storage
    tag = _tag("race")
    storage.set_state(tag, Conversation())
    loaded = storage.acquire_and_load(tag, "t1", time.time() + 1)
    assert loaded.profile is None
    storage.forget_profile(tag)  # another unit committed a change meanwhile
    storage.commit(tag, Conversation(), 0, "m1", [], "t1", Profile(7, "李**"), loaded.profile_gen)
    assert storage.redis.hget(keys.profile(tag), "id") is None
    loaded = storage.acquire_and_load(tag, "t2", time.time() + 1)
    storage.commit(tag, Conversation(), 1, "m2", [], "t2", Profile(7, ""), loaded.profile_gen)
    assert storage.acquire_and_load(tag, "t3", time.time() + 1).profile == Profile(7, "")


def count_effect(services, payload):
    """A queued test effect (module level: RQ finds it by reference)."""
    services.redis.incr("test:effects")


@pytest.fixture
def slow_flow():
    def handle(conv, ctx):
        ctx.services.redis.incr("test:runs")
        time.sleep(float(conv.data.get("sleep", 0)))
        return Outcome(conv, [Reply(f"version {conv.version}")], [Effect(count_effect, {})])

    FLOWS["slowcount"] = handle
    yield
    FLOWS.pop("slowcount")


def test_a_retry_takes_over_from_a_dead_worker(app, chat, redis, slow_flow):
    """A worker died holding the claim and the lock: they lapse within a lease, and WeChat's retry
    processes the message, its effect once."""
    rt = app.extensions["gradcert"]
    rt.storage.lease_ms = 600
    tag = _tag("orphan")
    rt.storage.set_state(tag, Conversation(flow="slowcount"))
    redis.set(keys.message(tag, "9001"), "~pending", px=600)  # as the dead worker left them
    redis.set(keys.lock(tag), "dead-worker", px=600)
    started = time.time()
    assert chat.say("orphan", "hello", msg_id="9001") == "version 0"
    assert time.time() - started < 2
    assert chat.say("orphan", "hello", msg_id="9001") == "version 0"
    assert int(redis.get("test:runs")) == 1
    chat.run_jobs()
    assert int(redis.get("test:effects")) == 1


def test_a_live_worker_keeps_its_leases_past_their_length(app, chat, redis, slow_flow):
    rt = app.extensions["gradcert"]
    rt.storage.lease_ms = 300
    tag = _tag("busy")
    rt.storage.set_state(tag, Conversation(flow="slowcount", data={"sleep": 1.2}))
    first = []
    worker = threading.Thread(
        target=lambda: first.append(Chat(app).say("busy", "hello", msg_id="9002"))
    )
    worker.start()
    time.sleep(0.7)  # more than two leases: renewed, so the retry must not run it again
    assert Chat(app).say("busy", "hello", msg_id="9002") == "version 0"
    worker.join()
    assert first == ["version 0"]
    assert int(redis.get("test:runs")) == 1  # the step ran once: the retry waited for it
    chat.run_jobs()
    assert int(redis.get("test:effects")) == 1
    assert rt.storage.load(tag)[0].version == 1


def test_database_away_mid_form_gives_the_busy_text_and_keeps_the_form(app, chat, demo):
    no, name, id_number, _, _ = demo["李小红"]
    rt = app.extensions["gradcert"]
    chat.say("form", "1")
    chat.say("form", "同意")
    chat.say("form", name)
    assert "学号" in chat.say("form", id_number)
    before, _ = rt.storage.load(_tag("form"))
    with database_unreachable(app):
        reply = chat.say("form", no)
    assert "系统繁忙" in reply and "重新开始" not in reply
    assert rt.storage.load(_tag("form"))[0] == before  # exactly where it was
    assert "6位数字" in chat.say("form", no)  # the same answer again, once the database is back


def test_a_form_lost_with_redis_is_said_plainly(app, chat, demo, redis):
    _, name, id_number, _, _ = demo["李小红"]
    chat.say("lost", "1")
    chat.say("lost", "同意")
    chat.say("lost", name)
    redis.flushdb()  # Redis restarted without its data
    reply = chat.say("lost", id_number)
    assert "系统刚才中断" in reply and "再发一次" in reply and "没看懂" not in reply
    assert "系统刚才中断" not in chat.say("lost", "1")  # said once
    assert "系统刚才中断" not in chat.say("lost-new", "你好")  # a new user is just new
