"""Attachment stores: the local folder and an S3-compatible store signed with SigV4."""

import datetime as dt

import pytest

from bot.platform.attachment_store import LocalStore, S3Store, StoreError, make_store, sigv4_headers
from tests.stubs import PNG_BYTES, HttpStub


def test_sigv4_matches_the_published_s3_get_example():
    # AWS documentation, "Signature Calculations for the Authorization Header", GET Object example
    headers = sigv4_headers(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        b"",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        dt.datetime(2013, 5, 24, tzinfo=dt.UTC),
        {"Range": "bytes=0-9"},
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def _s3_stub(secret="s3-secret"):
    """An object store that checks each request's signature and keeps the objects."""
    stub, objects = HttpStub(), {}

    def handle(rec):
        expected = sigv4_headers(
            rec.method,
            f"http://{rec.headers['host']}{rec.path}",
            rec.body,
            "AKID",
            secret,
            "cn-south-1",
            dt.datetime.strptime(rec.headers["x-amz-date"], "%Y%m%dT%H%M%SZ"),
            {"content-type": rec.headers["content-type"]}
            if "content-type" in rec.headers and rec.method == "PUT"
            else None,
        )
        if rec.headers.get("authorization") != expected["authorization"]:
            return 403, {"error": "SignatureDoesNotMatch"}
        if rec.method == "PUT":
            objects[rec.path] = rec.body
            return 200, b""
        return (200, objects[rec.path]) if rec.path in objects else (404, {"error": "NoSuchKey"})

    stub.routes = _AnyPath(handle)
    return stub.start(), objects


class _AnyPath(dict):
    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    def get(self, _path, default=None):
        return self.handler


def test_s3_store_puts_and_gets_signed_objects():
    stub, objects = _s3_stub()
    try:
        store = S3Store(stub.url, "gradcert", "AKID", "s3-secret", "cn-south-1")
        store.put("appeal-1/1-abc.png", PNG_BYTES, "image/png")
        assert objects == {"/gradcert/appeal-1/1-abc.png": PNG_BYTES}
        assert store.get("appeal-1/1-abc.png") == PNG_BYTES
        with pytest.raises(StoreError):
            store.get("appeal-1/missing.png")
        with pytest.raises(StoreError) as refused:
            S3Store(stub.url, "gradcert", "AKID", "wrong-secret", "cn-south-1").put(
                "k.png", PNG_BYTES, "image/png"
            )
        assert "403" in str(refused.value)
    finally:
        stub.stop()


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


def test_chat_photos_go_to_the_object_store_and_staff_see_them(make_app):
    from sqlalchemy import select

    from models import Attachment
    from tests.bot.appeals.test_script import _to_photos
    from tests.conftest import Chat
    from tests.handlers.console.test_appeals import login, make_staff
    from tests.stubs import add_media, wechat_api_stub

    s3, objects = _s3_stub()
    wechat = wechat_api_stub("wxtestapp0000001", "s3cret")
    add_media(wechat, {"m-1": PNG_BYTES})
    try:
        app = make_app(
            WECHAT_APP_SECRET="s3cret",
            WECHAT_API_BASE=wechat.url,
            GRADCERT_ATTACHMENT_STORE="s3",
            S3_ENDPOINT=s3.url,
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
        assert objects == {f"/gradcert/{attachment.storage_key}": PNG_BYTES}
        make_staff(app)
        client = app.test_client()
        login(client)
        res = client.get(f"/console/attachments/{attachment.id}")
        assert res.status_code == 200 and res.data == PNG_BYTES
    finally:
        s3.stop()
        wechat.stop()
