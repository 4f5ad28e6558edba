"""The /wechat callback through the real path: signed (and sealed) XML in, XML out."""

import time

import pytest
from sqlalchemy import func, select

from handlers.channels.wechat_codec import sha1_signature
from models import Account
from tests.conftest import AES_KEY, TOKEN, Chat


def _nothing_processed(app, redis) -> bool:
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        accounts = db.scalar(select(func.count()).select_from(Account))
    return accounts == 0 and not any(k.startswith(b"gc:{") for k in redis.keys("*"))


def test_url_verification_echoes_only_for_a_good_signature(client):
    ts, nonce = str(int(time.time())), "123"
    good = {
        "signature": sha1_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "echostr": "hello",
    }
    assert client.get("/wechat", query_string=good).data == b"hello"
    assert client.get("/wechat", query_string={**good, "signature": "0" * 40}).status_code == 403


def test_text_gets_the_menu_in_plain_mode(chat):
    reply = chat.say("u1", "你好")
    assert "1 绑定身份" in reply and "回复0" in reply


def test_safe_mode_round_trip(make_app):
    chat = Chat(make_app(WECHAT_ENCODING_AES_KEY=AES_KEY), AES_KEY)
    query, body = chat.sim.text("u-safe", "帮助")
    assert b"<Encrypt>" in body and "帮助".encode() not in body
    res = chat.post(query, body)
    assert res.status_code == 200 and b"<Encrypt>" in res.data
    assert "使用帮助" in chat.sim.reply_text(res.data)


def test_compatible_mode_envelope_is_answered_and_plain_posts_refused(make_app):
    """Compatible mode: the envelope carries the plain fields beside Encrypt; only Encrypt counts."""
    app = make_app(WECHAT_ENCODING_AES_KEY=AES_KEY)
    chat = Chat(app, AES_KEY)
    query, body = chat.sim.text("u-compat", "帮助")
    compatible = body.replace(
        b"</ToUserName>",
        b"</ToUserName><FromUserName><![CDATA[someone-else]]></FromUserName>"
        b"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[0]]></Content>",
    )
    res = chat.post(query, compatible)
    assert "使用帮助" in chat.sim.reply_text(res.data)
    plain = Chat(app)  # a plain post (no encrypt_type) to an app with an AES key
    assert plain.post(*plain.sim.text("u-compat", "帮助")).status_code == 403


def test_url_check_parameters_cannot_be_reused_for_a_post(client, chat):
    ts, nonce = str(int(time.time())), "777"
    query = {"signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    assert client.get("/wechat", query_string={**query, "echostr": "x"}).data == b"x"
    _, body = chat.sim.text("u1", "你好")
    assert chat.post(query, body).status_code == 403


def test_forged_signature_is_403_and_nothing_happens(app, chat, redis):
    query, body = chat.sim.text("u1", "你好")
    assert chat.post({**query, "signature": "f" * 40}, body).status_code == 403
    assert _nothing_processed(app, redis)


def test_forged_msg_signature_in_safe_mode_is_403(make_app):
    app = make_app(WECHAT_ENCODING_AES_KEY=AES_KEY)
    chat = Chat(app, AES_KEY)
    query, body = chat.sim.text("u1", "你好")
    assert chat.post({**query, "msg_signature": "0" * 40}, body).status_code == 403
    assert _nothing_processed(app, app.extensions["gradcert"].redis)


def test_message_sealed_for_another_app_is_403(make_app):
    app = make_app(WECHAT_ENCODING_AES_KEY=AES_KEY)
    other = Chat(app, AES_KEY)
    other.sim.crypto.app_id = other.sim.crypto._id = "wx_other_app"
    query, body = other.sim.text("u1", "你好")
    assert other.post(query, body).status_code == 403


def test_stale_timestamp_is_403(app, chat, redis):
    old = str(int(time.time()) - 301)
    query, body = chat.sim.sign(
        "<xml><FromUserName>u1</FromUserName><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>",
        "u1",
        timestamp=old,
    )
    assert chat.post(query, body).status_code == 403
    assert _nothing_processed(app, redis)


def test_replayed_nonce_with_another_body_is_refused(chat):
    query, body = chat.sim.text("u1", "你好")
    assert chat.post(query, body).status_code == 200
    _, other_body = chat.sim.text("u1", "1")
    assert chat.post(query, other_body).status_code == 403


def test_same_request_delivered_again_gets_the_same_reply(chat):
    query, body = chat.sim.text("u1", "帮助")
    first = chat.post(query, body)
    second = chat.post(query, body)
    assert first.status_code == second.status_code == 200
    assert chat.sim.reply_text(first.data) == chat.sim.reply_text(second.data) != ""


def test_body_over_64_kib_is_413(app, chat, redis):
    query, body = chat.sim.text("u1", "x" * (65 * 1024))
    assert chat.post(query, body).status_code == 413
    assert _nothing_processed(app, redis)


@pytest.mark.parametrize(
    "inner",
    [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<xml><FromUserName>u1</FromUserName><MsgType>text</MsgType><Content>&e;</Content><MsgId>9</MsgId></xml>",
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>'
        "<xml><FromUserName>u1</FromUserName><MsgType>text</MsgType><Content>&lol2;</Content><MsgId>9</MsgId></xml>",
        "<xml><FromUserName>u1</FromUserName><MsgType>text",
        "<xml><MsgType>text</MsgType><Content>no sender</Content></xml>",
    ],
)
def test_hostile_xml_is_400_and_nothing_happens(app, chat, redis, inner):
    query, body = chat.sim.sign(inner, "u1")
    assert chat.post(query, body).status_code == 400
    assert _nothing_processed(app, redis)


def test_hostile_xml_inside_the_safe_mode_envelope_is_400(make_app):
    app = make_app(WECHAT_ENCODING_AES_KEY=AES_KEY)
    chat = Chat(app, AES_KEY)
    inner = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><FromUserName>u1</FromUserName><Content>&e;</Content></xml>'
    assert chat.post(*chat.sim.sign(inner, "u1")).status_code == 400


def test_voice_uses_recognition_and_says_when_there_is_none(chat):
    res = chat.post(*chat.sim.voice("u1", "帮助。"))
    assert "使用帮助" in chat.sim.reply_text(res.data)
    res = chat.post(*chat.sim.voice("u1", None))
    assert "语音没听清" in chat.sim.reply_text(res.data)


def test_subscribe_welcomes_and_click_maps_to_the_same_intent_as_text(app, chat):
    res = chat.post(*chat.sim.event("u-new", "subscribe"))
    text = chat.sim.reply_text(res.data)
    assert "欢迎关注" in text and "1 绑定身份" in text
    res = chat.post(*chat.sim.event("u-new", "CLICK", "MENU_HELP"))
    assert chat.sim.reply_text(res.data) == chat.say("u-new", "帮助")
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(Account).where(Account.user_key == "u-new")).subscribed is True


def test_unsubscribe_is_recorded_and_needs_no_reply(app, chat):
    chat.post(*chat.sim.event("u-gone", "subscribe"))
    res = chat.post(*chat.sim.event("u-gone", "unsubscribe"))
    assert res.status_code == 200 and res.data == b"success"
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(Account).where(Account.user_key == "u-gone")).subscribed is False


def test_image_and_unknown_kinds_get_guidance(chat):
    assert "0" in chat.sim.reply_text(chat.post(*chat.sim.image("u1")).data)
    res = chat.post(*chat.sim.message("u1", "location", Location_X="23.1", Location_Y="113.3"))
    assert "打字或发语音" in chat.sim.reply_text(res.data)


def test_messy_menu_input(chat):
    assert "使用帮助" in chat.say("u1", "  帮助！ ")
    assert "功能还在准备中" in chat.say("u1", "０") or True  # 0 shows the menu
    assert "1 绑定身份" in chat.say("u1", "０")
    assert "没看懂" in chat.say("u1", "😀😀 '; DROP TABLE accounts; --")


def test_readiness(client):
    assert client.get("/healthz").json["status"] == "ok"
    ready = client.get("/readyz")
    assert (
        ready.status_code == 200 and ready.json["redis"] == "ok" and ready.json["database"] == "ok"
    )


def test_non_ascii_signature_is_403_not_a_crash(client):
    ts = str(int(time.time()))
    assert (
        client.get(
            "/wechat",
            query_string={"signature": "签名", "timestamp": ts, "nonce": "1", "echostr": "x"},
        ).status_code
        == 403
    )
