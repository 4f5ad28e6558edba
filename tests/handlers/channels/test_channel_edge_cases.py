"""Channel edge cases: an Alipay phone answer that is JSON but not an object, and a WeChat retry of
a message whose replies did not all fit in the passive reply."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.core.flow import Outcome
from bot.core.messages import Reply
from bot.core.state import Conversation
from bot.router import FLOWS
from tests.conftest import Chat
from tests.stubs import wechat_api_stub


def _sealed_answer(gateway, aes_key: str, plain: str) -> str:
    """A my.getPhoneNumber answer signed by `gateway` whose decrypted content is `plain`."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(base64.b64decode(aes_key)), modes.CBC(b"\0" * 16)).encryptor()
    content = base64.b64encode(enc.update(padded) + enc.finalize()).decode()
    return json.dumps(
        {"response": content, "sign": gateway.sign(f'"{content}"'), "sign_type": "RSA2"}
    )


@pytest.mark.parametrize("answer", ["[1, 2]", "1", '"text"', "null"])
def test_alipay_phone_answer_that_is_not_an_object_is_refused(mini, answer):
    mini.login("alipay", "2088000000000777")
    res = mini.post("/session/phone", {"response": answer})
    assert res.status_code == 422 and res.json["error"]["code"] == "phone_not_proven"


@pytest.mark.parametrize("plain", ["[1, 2]", "13800138000", "not json"])
def test_alipay_phone_plain_text_that_is_not_an_object_is_refused(mini, keys, plain):
    mini.login("alipay", "2088000000000778")
    res = mini.post(
        "/session/phone", {"response": _sealed_answer(keys["gateway"], keys["aes"], plain)}
    )
    assert res.status_code == 422 and res.json["error"]["code"] == "phone_not_proven"


def test_a_wechat_retry_does_not_push_the_follow_up_replies_again(make_app):
    stub = wechat_api_stub("wxtestapp0000001", "s3cret")
    FLOWS["two_replies"] = lambda conv, ctx: Outcome(
        conv,
        [
            Reply("first"),
            Reply("second", link_url="https://verify.example.edu.cn/x", link_title="PDF"),
        ],
    )
    try:
        app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
        tag = "{wx:%s:%s}" % (app.config["WECHAT_APP_ID"], "u-retry")
        app.extensions["gradcert"].storage.set_state(
            tag, Conversation(flow="two_replies", step="start")
        )
        chat = Chat(app)
        query, body = chat.sim.text("u-retry", "hi")
        first, retry = chat.post(query, body), chat.post(query, body)  # the first answer was lost
        assert chat.sim.reply_text(first.data) == chat.sim.reply_text(retry.data) == "first"
        chat.run_jobs()
        sent = stub.calls("/cgi-bin/message/custom/send")
        assert len(sent) == 1 and sent[0].json()["msgtype"] == "news"
    finally:
        FLOWS.pop("two_replies", None)
        stub.stop()
