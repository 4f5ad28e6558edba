"""Two hosts: two gunicorn instances, each with its own instance folder, behind one PostgreSQL
and one Redis. They start together (each runs `gradcert db-upgrade` first, as the systemd unit
does) on an empty database, which is migrated once; the same WeChat message delivered to both
(a retry landing on the other host) gets one answer and one effect."""

from __future__ import annotations

import os
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.platform.demo import demo_students, seed_demo
from bot.platform.signing import generate_private_key
from handlers.tools.wechat_sim import WeChatSimulator
from models.migrate import alembic_config
from tests.conftest import APP_ID, TOKEN, Chat, outbox
from tests.system.conftest import free_port
from tests.system.spawn import PYTHON, Spawned, gradcert_env, wait_port


@pytest.fixture
def empty_database(database_url):
    """A database of its own on the test's PostgreSQL server, dropped afterwards."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        if os.environ.get("GRADCERT_REQUIRE_SYSTEM") == "1":
            pytest.fail("the multi-host test needs DATABASE_URL=postgresql://…")
        pytest.skip("the multi-host test needs PostgreSQL (DATABASE_URL)")
    name = f"{url.database}_multihost"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _host_argv(port: int) -> list[str]:
    script = (
        f"{PYTHON} -m handlers.cli db-upgrade && exec {PYTHON} -m gunicorn "
        f"--bind 127.0.0.1:{port} --workers 2 --worker-class gthread --threads 4 "
        "'handlers:create_app()'"
    )
    return ["sh", "-c", script]


def test_two_hosts_one_database_one_redis(make_app, empty_database, redis_url, tmp_path):
    shared = {  # what every host of one deployment shares (docs/deploy.md)
        "DATABASE_URL": empty_database,
        "REDIS_URL": redis_url,
        "GRADCERT_SECRET_KEY": secrets.token_urlsafe(32),
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": APP_ID,
        "GRADCERT_PII_KEYS": "1:00112233445566778899aabbccddeeff",
        "GRADCERT_INDEX_KEY": secrets.token_hex(32),
        "GRADCERT_SM2_PRIVATE_KEY": generate_private_key(),
        "GRADCERT_PUBLIC_URL": "https://verify.example.edu.cn",
    }
    ports = [free_port(), free_port()]
    with Spawned(tmp_path) as procs:
        for i, port in enumerate(ports):
            env = gradcert_env(**shared, GRADCERT_INSTANCE=str(tmp_path / f"host{i}"))
            procs.start(f"host{i}", _host_argv(port), env=env)
        for i, port in enumerate(ports):
            try:
                wait_port(port, procs.procs[f"host{i}"], timeout=60)
            except AssertionError:
                raise AssertionError(procs.log(f"host{i}")) from None

        engine = create_engine(empty_database)
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        head = ScriptDirectory.from_config(alembic_config(empty_database)).get_current_head()
        assert versions == [(head,)]

        # this process plays the RQ worker of the deployment (and seeds the register)
        app = make_app(**shared, SMS_OUTBOX=str(tmp_path / "outbox.jsonl"))
        seed_demo(app.extensions["gradcert"])
        no, name, id_number, phone, _ = next(r for r in demo_students() if r[1] == "张三")
        sim = WeChatSimulator(TOKEN, APP_ID)
        bases = [f"http://127.0.0.1:{p}" for p in ports]

        def say(base: str, content: str, msg_id: str | None = None) -> str:
            query, body = sim.text("u-multi", content, msg_id)
            res = requests.post(f"{base}/wechat", params=query, data=body, timeout=15)
            assert res.status_code == 200, res.text
            return sim.reply_text(res.content)

        # a conversation moves from host to host
        assert "个人信息告知" in say(bases[0], "1")
        assert "请发送你的姓名" in say(bases[1], "同意")
        assert "18位身份证号" in say(bases[0], name)
        assert "学号" in say(bases[1], id_number)

        # the same delivery on both hosts at once: one answer, one SMS
        msg_id = str(secrets.randbelow(10**15))
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda b: say(b, no, msg_id), bases))
        assert answers[0] == answers[1] and "6位数字" in answers[0]
        # and once more, late, as WeChat's third try
        assert say(bases[1], no, msg_id) == answers[0]
        Chat(app).run_jobs()
        assert [m["phone"] for m in outbox(app)] == [phone]

        for i in range(2):  # SIGTERM: both stop gracefully
            procs.kill(f"host{i}", 15)


def test_migrations_run_once_when_hosts_start_together(empty_database, tmp_path):
    """Both `db-upgrade` runs succeed on an empty database: one migrates, the other waits for it
    and finds the schema current."""
    env = gradcert_env(
        DATABASE_URL=empty_database,
        REDIS_URL="redis://127.0.0.1:1/0",  # never reached by db-upgrade
        GRADCERT_INSTANCE=str(tmp_path / "instance"),
    )
    argv = [PYTHON, "-m", "handlers.cli", "db-upgrade"]
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)]
    runs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
