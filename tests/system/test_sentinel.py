"""Redis through Sentinel, configured by the deploy kit's files (deploy/redis/): a primary, a
replica and three Sentinels on loopback ports. A binding runs through the app up to the SMS
code; the primary is killed; Sentinel promotes the replica; the code job queued before the
failure is still there, the conversation goes on at the step it had reached, and the binding
completes. Nothing the app was told is stored is lost: the primary acknowledges writes only while
its replica follows (min-replicas-to-write), and the replica has the AOF on."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib
from rq import Retry

from bot.platform.demo import demo_students, seed_demo
from handlers.redis_client import connect
from handlers.worker import Worker
from tests.conftest import Chat, outbox
from tests.handlers.test_worker import flaky_push
from tests.system.conftest import free_port, require
from tests.system.spawn import ROOT, Spawned, wait_port

KIT = ROOT / "deploy" / "redis"
MASTER = "gradcert"  # the kit's master name
PASSWORD = "CHANGE-ME-redis-password"  # the kit's placeholder, kept so its auth lines are tested


def _redis_conf(folder, port: int, *extra: str, replicated: bool = True) -> str:
    """The kit's settings, then this test's port and folder (later lines win in redis.conf)."""
    path = folder / "redis.conf"
    kit = ["gradcert-redis.conf", "gradcert-replicated.conf"][: 2 if replicated else 1]
    lines = [*(f"include {KIT / name}" for name in kit), f"port {port}", "bind 127.0.0.1"]
    path.write_text("\n".join([*lines, f"dir {folder}", *extra]) + "\n")
    return str(path)


def _sentinel_conf(folder, port: int, primary: int) -> str:
    """The kit's Sentinel file with loopback addresses and failover times short enough for a test."""
    text = (KIT / "sentinel.conf").read_text()
    for old, new in {
        "port 26379": f"port {port}",
        "bind 127.0.0.1 -::1": "bind 127.0.0.1",
        "10.0.0.11 6379": f"127.0.0.1 {primary}",
        f"down-after-milliseconds {MASTER} 5000": f"down-after-milliseconds {MASTER} 800",
        f"failover-timeout {MASTER} 60000": f"failover-timeout {MASTER} 4000",
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "sentinel.conf"
    path.write_text(text + f"dir {folder}\n")
    return str(path)


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
    primary, replica = free_port(), free_port()
    sentinels = [free_port() for _ in range(3)]
    for name in ("primary", "replica", "s0", "s1", "s2"):
        (tmp_path / name).mkdir()
    with Spawned(tmp_path) as procs:
        procs.start("primary", [found["redis-server"], _redis_conf(tmp_path / "primary", primary)])
        # one replica: as the kit says, min-replicas only on the primary (or the promoted replica
        # would refuse writes until the old primary returns as its replica)
        conf = _redis_conf(
            tmp_path / "replica", replica, f"replicaof 127.0.0.1 {primary}", replicated=False
        )
        procs.start("replica", [found["redis-server"], conf])
        for i, port in enumerate(sentinels):
            conf = _sentinel_conf(tmp_path / f"s{i}", port, primary)
            procs.start(f"s{i}", [found["redis-sentinel"], conf])
        for port in (primary, replica, *sentinels):
            wait_port(port)
        direct = redis_lib.Redis(port=primary, password=PASSWORD)
        assert direct.config_get("appendonly") == {"appendonly": "yes"}
        assert direct.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        # a replica counts as "good" for min-replicas once it has acknowledged (each second)
        _wait(
            lambda: direct.info("replication").get("min_slaves_good_slaves") == 1,
            15,
            "the replica to follow",
        )
        # every Sentinel must know the replica: each learns it only from the primary's INFO (every
        # 10 s), and one that did not before the primary died is elected, aborts ("no good
        # slave") and leaves the promotion to a later vote, 8 s on
        each = [redis_lib.Redis(port=port) for port in sentinels]
        _wait(
            lambda: all(
                s.sentinel_master(MASTER)["num-other-sentinels"] == 2
                and s.sentinel_master(MASTER)["num-slaves"] == 1
                for s in each
            ),
            30,
            "the sentinels to know each other and the replica",
        )
        one_sentinel = each[0]

        hosts = ",".join(f"127.0.0.1:{p}" for p in sentinels)
        url = f"redis+sentinel://:{PASSWORD}@{hosts}/{MASTER}/0"
        app = make_app(REDIS_URL=url)
        rt = app.extensions["gradcert"]
        assert rt.redis.connection_pool.service_name == MASTER  # asks Sentinel, not one server
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
        # about 2 s here; a split vote costs Sentinel another 2 x failover-timeout (8 s) and a
        # stalled timer 30 s of TILT mode, so the wait is generous and a failure shows the logs
        try:
            promoted = _wait(
                lambda: (
                    addr := one_sentinel.sentinel_get_master_addr_by_name(MASTER)
                ) and int(addr[1]) == replica and addr,
                60,
                "Sentinel to promote the replica",
            )  # fmt: skip
        except AssertionError as failed:
            logs = "\n".join(
                f"--- {n}\n{procs.log(n)[-3000:]}" for n in ("replica", "s0", "s1", "s2")
            )
            raise AssertionError(f"{failed}\n{logs}") from None
        assert int(promoted[1]) == replica

        # the same client object follows the failover: the queued job and the state are there
        assert rt.queue.count == 1
        chat.run_jobs()
        code = [m for m in outbox(app) if m["phone"] == phone][-1]["code"]
        assert "绑定成功" in chat.say("u-sentinel", code)
        assert "已绑定" in chat.say("u-sentinel", "菜单")
        promoted_server = redis_lib.Redis(port=replica, password=PASSWORD)
        assert promoted_server.info("replication")["role"] == "master"
        assert connect(url, tmp_path).ping()

        # a push retried after the failover: the worker's scheduler runs on the Sentinel client
        job = rt.queue.enqueue(flaky_push, "test:flaky", retry=Retry(max=1, interval=1))
        with app.app_context():
            Worker([rt.queue], connection=rt.redis).work(with_scheduler=True, max_idle_time=4)
        job.refresh()
        assert job.get_status().value == "finished"


def test_the_primary_refuses_writes_without_a_replica(tmp_path):
    """min-replicas-to-write: a write that would live on one server only is refused (the app
    answers "系统繁忙" and WeChat's retry or the user's next message gets through)."""
    found = require("redis-server")
    port = free_port()
    (tmp_path / "alone").mkdir()
    with Spawned(tmp_path) as procs:
        procs.start("alone", [found["redis-server"], _redis_conf(tmp_path / "alone", port)])
        wait_port(port)
        alone = redis_lib.Redis(port=port, password=PASSWORD)
        with pytest.raises(redis_lib.ResponseError, match="NOREPLICAS"):
            alone.set("k", "v")
    # a single Redis without Sentinel uses gradcert-redis.conf alone, and takes writes
    port = free_port()
    (tmp_path / "single").mkdir()
    with Spawned(tmp_path) as procs:
        conf = _redis_conf(tmp_path / "single", port, replicated=False)
        procs.start("single", [found["redis-server"], conf])
        wait_port(port)
        assert redis_lib.Redis(port=port, password=PASSWORD).set("k", "v")
