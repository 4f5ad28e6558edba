"""Attachment stores: the local folder, and an S3-compatible store (the minio client) tested
against a real S3 server started here (moto's server mode on a free port)."""

import time

import pytest
import requests
from minio import Minio

from bot.platform.attachment_store import LocalStore, S3Store, StoreError, make_store
from tests.stubs import PNG_BYTES, HttpStub
from tests.system.conftest import free_port

BUCKET = "gradcert"


@pytest.fixture
def s3_url():
    """A moto S3 server on loopback with an empty bucket; stopped after the test."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        Minio(
            f"127.0.0.1:{port}", "AKID", "s3-secret", secure=False, region="cn-south-1"
        ).make_bucket(BUCKET)
        yield f"http://127.0.0.1:{port}"
    finally:
        requests.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=10)  # state is global
        server.stop()


def test_s3_store_puts_and_gets_objects_on_a_real_s3_server(s3_url):
    store = S3Store(s3_url, BUCKET, "AKID", "s3-secret", "cn-south-1")
    store.put("appeal-1/1-abc.png", PNG_BYTES, "image/png")
    assert store.get("appeal-1/1-abc.png") == PNG_BYTES
    reader = Minio(s3_url.split("//")[1], "AKID", "s3-secret", secure=False, region="cn-south-1")
    stat = reader.stat_object(BUCKET, "appeal-1/1-abc.png")
    assert stat.content_type == "image/png" and stat.size == len(PNG_BYTES)
    with pytest.raises(StoreError, match="NoSuchKey"):
        store.get("appeal-1/missing.png")
    with pytest.raises(StoreError, match="NoSuchBucket"):
        S3Store(s3_url, "no-such-bucket", "AKID", "s3-secret", "cn-south-1").put(
            "k.png", PNG_BYTES, "image/png"
        )


def test_a_store_that_is_down_fails_within_seconds():
    store = S3Store(f"http://127.0.0.1:{free_port()}", BUCKET, "AKID", "k", "cn-south-1")
    started = time.monotonic()
    with pytest.raises(StoreError, match="unreachable"):
        store.put("k.png", PNG_BYTES, "image/png")
    assert time.monotonic() - started < 5


def test_a_passing_server_error_is_retried():
    stub, calls = HttpStub(), []

    def handle(rec):
        calls.append(rec.method)
        return (503, {"error": "SlowDown"}) if len(calls) == 1 else (200, PNG_BYTES)

    stub.routes = _AnyPath(handle)
    stub.start()
    try:
        store = S3Store(stub.url, BUCKET, "AKID", "k", "cn-south-1")
        assert store.get("appeal-1/a.png") == PNG_BYTES
        assert calls == ["GET", "GET"]
    finally:
        stub.stop()


class _AnyPath(dict):
    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    def get(self, _path, default=None):
        return self.handler


def test_local_store_keeps_keys_inside_its_folder(tmp_path):
    store = LocalStore(tmp_path)
    store.put("appeal-1/a.png", PNG_BYTES, "image/png")
    assert store.get("appeal-1/a.png") == PNG_BYTES
    with pytest.raises(StoreError):
        store.get("../outside.png")


def test_store_from_config(tmp_path):
    assert isinstance(make_store({"GRADCERT_ATTACHMENT_DIR": str(tmp_path)}), LocalStore)
    s3 = make_store(
        {
            "GRADCERT_ATTACHMENT_STORE": "s3",
            "S3_ENDPOINT": "http://127.0.0.1:9",
            "S3_BUCKET": "b",
            "S3_ACCESS_KEY": "a",
            "S3_SECRET_KEY": "s",
            "GRADCERT_ATTACHMENT_DIR": str(tmp_path),
        }
    )
    assert isinstance(s3, S3Store)
    with pytest.raises(ValueError):
        make_store({"GRADCERT_ATTACHMENT_STORE": "ftp", "GRADCERT_ATTACHMENT_DIR": str(tmp_path)})


def test_chat_photos_go_to_the_object_store_and_staff_see_them(make_app, s3_url):
    from sqlalchemy import select

    from models import Attachment
    from tests.bot.appeals.test_script import _to_photos
    from tests.conftest import Chat
    from tests.handlers.console.test_appeals import login, make_staff
    from tests.stubs import add_media, wechat_api_stub

    wechat = wechat_api_stub("wxtestapp0000001", "s3cret")
    add_media(wechat, {"m-1": PNG_BYTES})
    try:
        app = make_app(
            WECHAT_APP_SECRET="s3cret",
            WECHAT_API_BASE=wechat.url,
            GRADCERT_ATTACHMENT_STORE="s3",
            S3_ENDPOINT=s3_url,
            S3_BUCKET="gradcert",
            S3_ACCESS_KEY="AKID",
            S3_SECRET_KEY="s3-secret",
            S3_REGION="cn-south-1",
        )
        chat = Chat(app)
        _to_photos(chat, "s3-user", cause="9")
        chat.post(*chat.sim.image("s3-user", "m-1"))
        chat.say("s3-user", "完成")
        chat.say("s3-user", "13912345678")
        assert "已提交" in chat.say("s3-user", "1")
        chat.run_jobs()
        with app.extensions["gradcert"].sessions() as db:
            attachment = db.scalar(select(Attachment))
        assert attachment.state == "stored"
        reader = Minio(s3_url.split("//")[1], "AKID", "s3-secret", secure=False)
        stored = reader.get_object(BUCKET, attachment.storage_key)
        assert stored.read() == PNG_BYTES
        stored.close()
        stored.release_conn()
        make_staff(app)
        client = app.test_client()
        login(client)
        res = client.get(f"/console/attachments/{attachment.id}")
        assert res.status_code == 200 and res.data == PNG_BYTES
    finally:
        wechat.stop()
