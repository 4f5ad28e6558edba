"""Photos that could not be used (the download failed, or not a JPEG/PNG) are not kept quiet: the
sender is told, by push after the download, and asked to send them again; a proxy's notarised
authorisation that failed is not sent to staff as submitted. The photo prompts ask for the document
each cause needs, never for ID-card photos (the college's anti-leak advice)."""

import pytest
from sqlalchemy import select

from models import Proxy
from tests.bot.proxies.test_script import GRADUATE, _bind_graduate, _code, _request
from tests.conftest import Chat
from tests.stubs import PNG_BYTES, add_media, wechat_api_stub


@pytest.fixture
def wx(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    files = {"good": PNG_BYTES, "gif": b"GIF89a not allowed"}  # any other media id fails
    add_media(stub, files)
    app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
    from bot.platform.demo import seed_demo

    seed_demo(app.extensions["gradcert"])
    yield app, Chat(app), stub
    stub.stop()


def _pushed(stub, openid):
    return [
        r.json()["text"]["content"]
        for r in stub.calls("/cgi-bin/message/custom/send")
        if r.json()["touser"] == openid
    ]


def _file_with(chat, openid, media_ids):
    chat.say(openid, "3")
    chat.say(openid, "3")  # name change: needs the change certificate
    chat.say(openid, "王芳 440306200001011231")
    chat.say(openid, "我改过名字，原来叫王小芳，现在查不到证书。")
    chat.say(openid, "1")
    for media in media_ids:  # not yet downloaded: not called received
        said = chat.sim.reply_text(chat.post(*chat.sim.image(openid, media)).data)
        assert "已发来" in said and "收到" not in said
    chat.say(openid, "完成")
    chat.say(openid, "139 1234 5678")
    return chat.say(openid, "1")


def test_a_photo_that_failed_to_download_is_told_and_asked_again(wx):
    app, chat, stub = wx
    assert "GA" in _file_with(chat, "a1", ["good", "expired-media", "gif"])
    chat.run_jobs()
    told = [t for t in _pushed(stub, "a1") if "没能" in t]
    assert len(told) == 1, _pushed(stub, "a1")
    assert "2张照片" in told[0] and "重新拍照发送" in told[0] and "姓名变更证明" in told[0]


def test_all_photos_stored_tells_nothing(wx):
    app, chat, stub = wx
    assert "GA" in _file_with(chat, "a2", ["good"])
    chat.run_jobs()
    assert not [t for t in _pushed(stub, "a2") if "没能" in t]


def test_a_proxy_document_that_failed_to_download_is_not_sent_to_staff(wx):
    app, chat, stub = wx
    _bind_graduate(chat)
    _request(chat)
    chat.say("mom", "1")
    assert "公证书编号" in chat.say("mom", _code(chat, GRADUATE[3]))
    chat.say("mom", "（2026）京东方证字第 123 号")
    chat.post(*chat.sim.image("mom", "expired-media"))
    chat.run_jobs()
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(Proxy)).state == "awaiting_document"
    told = [t for t in _pushed(stub, "mom") if "没能" in t]
    assert told and "重新" in told[-1] and "还没有提交" in told[-1]
    assert "公证书编号" in chat.say("mom", "5")  # resumes at the document
    chat.say("mom", "（2026）京东方证字第 123 号")
    chat.post(*chat.sim.image("mom", "good"))
    chat.run_jobs()
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(Proxy)).state == "awaiting_review"


def test_optional_photos_never_invite_id_card_photos(wx):
    app, chat, _ = wx
    chat.say("a3", "3")
    reply = ""
    for message in ("9", "王芳 440306200001011231", "信息有误，查不到证书。", "1"):
        reply = chat.say("a3", message)
    assert "完成" in reply and "（身份证" not in reply and "不要发身份证" in reply
