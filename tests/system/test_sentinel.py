"""Redis through Sentinel: a primary, a replica and three Sentinels on loopback ports. A binding
runs through the app up to the SMS code; the primary is killed; Sentinel promotes the replica;
the code job queued before the failure is still there, the conversation goes on at the step it
had reached, and the binding completes."""

from __future__ import annotations

import time

import redis as redis_lib

from bot.platform.demo import demo_students, seed_demo
from handlers.redis_client import connect
from tests.conftest import Chat, outbox
from tests.system.conftest import free_port, require
from tests.system.spawn import Spawned, wait_port

MASTER = "gc"


def _sentinel_conf(path, port: int, primary: int) -> str:
    path.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {path.parent}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n"
        f"sentinel down-after-milliseconds {MASTER} 800\n"
        f"sentinel failover-timeout {MASTER} 4000\n"
        f"sentinel parallel-syncs {MASTER} 1\n"
    )
    return str(path)


def _redis_argv(server: str, port: int, folder, *extra: str) -> list[str]:
    return [
        server,
        "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
        "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
        *extra,
    ]  # fmt: skip


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except redis_lib.RedisError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_conversation_survives_a_failover(make_app, tmp_path):
    found = require("redis-server", "redis-sentinel")
    server = found["redis-server"]
    primary, replica = free_port(), free_port()
    sentinels = [free_port() for _ in range(3)]
    for name in ("primary", "replica", "s0", "s1", "s2"):
        (tmp_path / name).mkdir()
    with Spawned(tmp_path) as procs:
        # A write is acknowledged only while a replica follows within 10 s (min-replicas):
        # what the app was told is stored is on two servers, as docs/deploy.md configures.
        procs.start(
            "primary",
            _redis_argv(server, primary, tmp_path / "primary",
                        "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10"),
        )  # fmt: skip
        procs.start(
            "replica",
            _redis_argv(
                server, replica, tmp_path / "replica", "--replicaof", "127.0.0.1", str(primary)
            ),
        )
        for i, port in enumerate(sentinels):
            conf = _sentinel_conf(tmp_path / f"s{i}" / "sentinel.conf", port, primary)
            procs.start(f"s{i}", [found["redis-sentinel"], conf])
        for port in (primary, replica, *sentinels):
            wait_port(port)
        direct = redis_lib.Redis(port=primary)
        _wait(lambda: direct.info("replication")["connected_slaves"] == 1, 10, "the replica")
        one_sentinel = redis_lib.Redis(port=sentinels[0])
        _wait(
            lambda: (
                one_sentinel.sentinel_master(MASTER)["num-other-sentinels"] == 2
                and one_sentinel.sentinel_master(MASTER)["num-slaves"] == 1
            ),
            15,
            "the sentinels to know each other and the replica",
        )

        url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + f"/{MASTER}/0"
        app = make_app(REDIS_URL=url)
        rt = app.extensions["gradcert"]
        assert rt.redis.connection_pool.connection_kwargs.get("port") is None  # asks Sentinel
        seed_demo(rt)
        student = next(row for row in demo_students() if row[1] == "李小红")
        no, name, id_number, phone, _ = student
        chat = Chat(app)
        assert "个人信息告知" in chat.say("u-sentinel", "1")
        assert "请发送你的姓名" in chat.say("u-sentinel", "同意")
        assert "18位身份证号" in chat.say("u-sentinel", name)
        assert "学号" in chat.say("u-sentinel", id_number)
        assert "6位数字" in chat.say("u-sentinel", no)  # the code is queued, not sent yet
        assert rt.queue.count == 1

        procs.kill("primary")
        promoted = _wait(
            lambda: (
                addr := one_sentinel.sentinel_get_master_addr_by_name(MASTER)
            ) and int(addr[1]) == replica and addr,
            20,
            "Sentinel to promote the replica",
        )  # fmt: skip
        assert int(promoted[1]) == replica

        # the same client object follows the failover: the queued job and the state are there
        assert rt.queue.count == 1
        chat.run_jobs()
        code = [m for m in outbox(app) if m["phone"] == phone][-1]["code"]
        assert "绑定成功" in chat.say("u-sentinel", code)
        assert "已绑定" in chat.say("u-sentinel", "菜单")
        assert redis_lib.Redis(port=replica).info("replication")["role"] == "master"
        assert connect(url, tmp_path).ping()
