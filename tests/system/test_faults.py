"""Faults against real processes: two gunicorn workers and an RQ worker, a redis-server of the
test's own, PostgreSQL (from DATABASE_URL) reached through a TCP proxy the test controls, so that
connections can be refused and cut for real. WeChat is simulated by signed, sealed callbacks and
its retry schedule (a 5 s timeout, retries about 5, 10 and 15 s after the first delivery).

Skipped unless DATABASE_URL is PostgreSQL (failed instead under GRADCERT_REQUIRE_SYSTEM=1)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis as redis_lib
import requests

from handlers.tools.wechat_sim import WeChatSimulator
from tests.system.conftest import free_port, require

ROOT = Path(__file__).resolve().parents[2]
TOKEN, APP_ID = "faulttoken", "wxfaults00000001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MIN_SECONDS = 0.3  # the verification page's timing floor in these tests


def _postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        if os.environ.get("GRADCERT_REQUIRE_SYSTEM") == "1":
            pytest.fail("the fault tests need DATABASE_URL to be PostgreSQL")
        pytest.skip("the fault tests need DATABASE_URL to be PostgreSQL")
    return url


class TcpProxy:
    """A TCP forwarder to PostgreSQL that can refuse new connections and cut the open ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.open: list[socket.socket] = []
        self.guard = threading.Lock()
        self.listener: socket.socket | None = None
        self.accept()

    def accept(self) -> None:
        """Take connections again."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()

    def refuse(self) -> None:
        """Close the listener (new connections are refused) and cut every open connection."""
        listener, self.listener = self.listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (Linux)
            except OSError:
                pass
            listener.close()
        with self.guard:
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.open.clear()

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.guard:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Stack:
    """redis-server, the proxy, gunicorn (2 workers) and an RQ worker, all on loopback."""

    def __init__(self, tmp: Path, pg_url: str) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        self.redis_bin = require("redis-server")["redis-server"]
        self.redis_port = free_port()
        self.web_port = free_port()
        parts = urlsplit(pg_url)
        self.dbname = f"gradcert_faults_{os.getpid()}_{secrets.token_hex(3)}"
        self.admin_dsn = dict(
            host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres"
        )
        if parts.password:
            self.admin_dsn["password"] = parts.password
        admin = psycopg.connect(dbname="postgres", **self.admin_dsn)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{self.dbname}"')
        admin.close()
        self.direct_url = urlunsplit(parts._replace(path="/" + self.dbname))
        self.proxy = TcpProxy((parts.hostname, parts.port or 5432))
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.proxy.port}"
        proxied = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
        self.proxied_url = urlunsplit(parts._replace(netloc=proxied, path="/" + self.dbname))
        self.outbox = tmp / "sms_outbox.jsonl"
        self.env = {
            **os.environ,
            "TZ": "Asia/Shanghai",
            "GRADCERT_INSTANCE": str(tmp / "instance"),
            "DATABASE_URL": self.proxied_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_ENCODING_AES_KEY": AES_KEY,
            "SMS_OUTBOX": str(self.outbox),
            "GRADCERT_PII_KEYS": "1:00112233445566778899aabbccddeeff",
            "VERIFY_MIN_SECONDS": str(MIN_SECONDS),
            "PYTHONPATH": str(ROOT),
        }
        self.sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY)

    # -- processes ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.start_redis()
        from bot.platform.demo import seed_demo
        from models.migrate import upgrade

        upgrade(self.direct_url)
        # the same instance directory as the servers: the same generated secrets (blind-index
        # key, SM2 key), so that what this process seeds and signs is what they read
        previous = os.environ.get("GRADCERT_INSTANCE")
        os.environ["GRADCERT_INSTANCE"] = self.env["GRADCERT_INSTANCE"]
        try:
            self.app = self._app()
        finally:
            if previous is None:
                os.environ.pop("GRADCERT_INSTANCE")
            else:
                os.environ["GRADCERT_INSTANCE"] = previous
        seed_demo(self.app.extensions["gradcert"])

        self.procs["web"] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--timeout",
                "60",
                "handlers:create_app()",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=open(self.tmp / "web.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        self.start_rq()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(self.url("/healthz"), timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not come up: " + (self.tmp / "web.log").read_text())

    def _app(self):
        from handlers import create_app

        return create_app(
            {
                "TESTING": True,
                "DATABASE_URL": self.direct_url,
                "REDIS_URL": self.env["REDIS_URL"],
                "WECHAT_TOKEN": TOKEN,
                "WECHAT_APP_ID": APP_ID,
                "WECHAT_ENCODING_AES_KEY": AES_KEY,
                "SMS_OUTBOX": str(self.outbox),
                "GRADCERT_PII_KEYS": self.env["GRADCERT_PII_KEYS"],
            }
        )

    def start_redis(self) -> None:
        self.procs["redis"] = subprocess.Popen(
            [self.redis_bin, "--port", str(self.redis_port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL,
        )
        client = redis_lib.Redis(port=self.redis_port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis_lib.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not come up")

    def start_rq(self) -> None:
        old = self.procs.get("rq")
        if old is not None and old.poll() is None:
            return
        self.procs["rq"] = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "worker"],
            env=self.env,
            cwd=ROOT,
            stdout=open(self.tmp / "rq.log", "ab"),
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proxy.refuse()
        app = getattr(self, "app", None)
        if app is not None:
            app.extensions["gradcert"].db_engine.dispose()
        admin = psycopg.connect(dbname="postgres", **self.admin_dsn)
        admin.autocommit = True
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        admin.close()

    # -- talking to it ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def post(self, signed: tuple[dict, bytes], timeout: float = 5.0) -> str:
        """One delivery as WeChat makes it: the passive reply's text ('' for `success`)."""
        query, body = signed
        res = requests.post(self.url("/wechat"), params=query, data=body, timeout=timeout)
        assert res.status_code == 200, res.status_code
        return self.text_of(res.content)

    def text_of(self, content: bytes) -> str:
        from handlers.channels.wechat_codec import parse_xml

        inner = self.sim.inner_xml(content)
        return parse_xml(inner).get("Content", "") if inner else ""

    def say(self, openid: str, text: str) -> str:
        return self.post(self.sim.text(openid, text))

    def sms_to(self, phone: str) -> list[dict]:
        if not self.outbox.exists():
            return []
        lines = self.outbox.read_text().splitlines()
        return [m for m in map(json.loads, lines) if m.get("phone") == phone]

    def web_workers(self) -> list[int]:
        pid = self.procs["web"].pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(c) for c in children]

    def worker_holding(self, client_port: int) -> int | None:
        """The gunicorn worker whose socket is the local end `client_port` (a PostgreSQL
        connection): matched through /proc/net/tcp and the workers' descriptors."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == client_port:
                    inodes.add(fields[9])
        for pid in self.web_workers():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return pid
        return None

    def pg(self):
        conn = psycopg.connect(dbname=self.dbname, **self.admin_dsn)
        return conn


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    pg_url = _postgres_url()
    require("redis-server")
    s = Stack(tmp_path_factory.mktemp("faults"), pg_url)
    try:
        s.start()
        yield s
    finally:
        s.stop()


def _to_student_no_step(stack: Stack, openid: str, person: tuple) -> None:
    _, name, id_number, _, _ = person
    stack.say(openid, "1")
    assert "请发送你的姓名" in stack.say(openid, "同意")
    stack.say(openid, name)
    assert "学号" in stack.say(openid, id_number)


def _person(name: str) -> tuple:
    from bot.platform.demo import demo_students

    return {row[1]: row for row in demo_students()}[name]


def test_a_worker_killed_mid_message_is_answered_by_wechats_retries_sms_once(stack):
    person = _person("张三")
    no, _, _, phone, _ = person
    _to_student_no_step(stack, "kill-1", person)
    signed = stack.sim.text("kill-1", no)
    blocker = stack.pg()
    blocker.cursor().execute("LOCK TABLE students IN ACCESS EXCLUSIVE MODE")
    started = time.time()
    first = threading.Thread(target=lambda: _quietly(stack.post, signed), daemon=True)
    first.start()
    try:
        while not _lock_waiters(stack) and time.time() - started < 4:
            time.sleep(0.05)
        assert _lock_waiters(stack), "the message never reached the locked table"
        worker = _worker_through_proxy(stack)
        assert worker in stack.web_workers()
        time.sleep(max(0.0, 1.5 - (time.time() - started)))
        os.kill(worker, signal.SIGKILL)
    finally:
        blocker.rollback()
        blocker.close()
    first.join(timeout=10)
    answers = []
    for retry_at in (5, 10, 15):  # WeChat's schedule after the first delivery
        time.sleep(max(0.0, started + retry_at - time.time()))
        answers.append(_quietly(stack.post, signed))
        if answers[-1]:
            break
    assert len(answers) <= 2 and "6位数字" in answers[-1], answers
    deadline = time.time() + 15
    while not stack.sms_to(phone) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    assert len(stack.sms_to(phone)) == 1


def _lock_waiters(stack: Stack) -> list[int]:
    """Client ports (the proxy's upstream ends) of backends of our database waiting for a lock."""
    conn = stack.pg()
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT client_port FROM pg_stat_activity WHERE datname = %s "
            "AND wait_event_type = 'Lock'",
            (stack.dbname,),
        )
        return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _worker_through_proxy(stack: Stack) -> int:
    """The gunicorn worker whose PostgreSQL connection waits for the lock: the backend's client
    port is the proxy's upstream end; the proxy pairs it with the worker's connection."""
    [upstream_port] = _lock_waiters(stack)
    with stack.proxy.guard:
        pairs = list(zip(stack.proxy.open[::2], stack.proxy.open[1::2], strict=False))
    for client, upstream in pairs:
        try:
            if upstream.getsockname()[1] == upstream_port:
                worker = stack.worker_holding(client.getpeername()[1])
                if worker:
                    return worker
        except OSError:
            continue
    raise AssertionError("no worker holds the blocked connection")


def _quietly(post, signed) -> str:
    try:
        return post(signed)
    except requests.RequestException:
        return ""  # WeChat saw a timeout or a reset: it retries


def test_database_refused_mid_form_busy_text_then_the_form_goes_on(stack):
    person = _person("阿依古丽·买买提")
    no = person[0]
    _to_student_no_step(stack, "pg-1", person)
    stack.proxy.refuse()
    try:
        started = time.time()
        reply = stack.say("pg-1", no)
        assert time.time() - started < 5  # inside WeChat's timeout
        assert "系统繁忙" in reply and "重新开始" not in reply
        assert requests.get(stack.url("/readyz"), timeout=5).status_code == 503
    finally:
        stack.proxy.accept()
    assert "6位数字" in stack.say("pg-1", no)  # the form was kept where it was


def test_verification_during_a_database_outage(stack):
    from tests.handlers.web.test_verify import make_certificate

    code = make_certificate(stack.app, student_no="2016010203")
    unseen = make_certificate(stack.app, student_no="2016010203")  # never looked up
    assert requests.get(stack.url(f"/v/{code}.json"), timeout=5).json()["status"] == "valid"
    stack.proxy.refuse()
    try:
        for path in (f"/v/{unseen}", f"/v/{unseen}.json", "/v/ABCDEFGHJKLMNPQR"):
            started = time.monotonic()
            res = requests.get(stack.url(path), timeout=10)
            assert time.monotonic() - started >= MIN_SECONDS
            assert res.status_code == 503 and res.headers["Retry-After"]
        assert "暂时无法查询" in requests.get(stack.url(f"/v/{unseen}"), timeout=10).text
        # the code just answered: from the worker's memory within its minute (no commit can
        # have changed it), or 503 from a worker that has not seen it; never a 500
        res = requests.get(stack.url(f"/v/{code}.json"), timeout=10)
        assert res.status_code in (200, 503)
        assert res.status_code == 503 or res.json()["status"] == "valid"
    finally:
        stack.proxy.accept()
    assert requests.get(stack.url(f"/v/{code}.json"), timeout=5).json()["status"] == "valid"
    assert requests.get(stack.url(f"/v/{unseen}.json"), timeout=5).json()["status"] == "valid"


def test_redis_killed_and_restarted_mid_binding(stack):
    person = _person("李小红")
    no = person[0]
    _to_student_no_step(stack, "redis-1", person)
    stack.procs["redis"].send_signal(signal.SIGKILL)
    stack.procs["redis"].wait()
    try:
        started = time.time()
        reply = stack.say("redis-1", no)
        assert time.time() - started < 5
        assert "系统繁忙" in reply
    finally:
        stack.start_redis()  # empty: no persistence
    time.sleep(0.5)
    reply = stack.say("redis-1", no)  # what it had typed is gone with Redis: said plainly
    assert "再发一次" in reply or "重新开始" in reply, reply
    stack.start_rq()  # RQ's worker may have stopped with its Redis
    assert "1 绑定身份" in stack.say("redis-1", "0")
