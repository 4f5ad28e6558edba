"""The bench's baseline: a bare Flask endpoint served the same way as the real app, doing what any
safe-mode WeChat callback must do and nothing more: check the URL signature and `msg_signature`,
open the AES envelope, read the sender, seal a text reply and sign it. No state, no database. The
crypto is the callback's own (`handlers.channels.wechat_codec.SafeMode`), so both servers pay the
same for it.
"""

from __future__ import annotations

import hmac
import os
import time
from xml.etree import ElementTree

from flask import Flask, Response, request

from handlers.channels.wechat_codec import SafeMode
from handlers.channels.wechat_codec import sha1_signature as signature

app = Flask(__name__)
TOKEN = os.environ.get("WECHAT_TOKEN", "")
APP_ID = os.environ.get("WECHAT_APP_ID", "")
AES_KEY = os.environ.get("WECHAT_ENCODING_AES_KEY", "")
SAFE = SafeMode(TOKEN, AES_KEY, APP_ID) if AES_KEY else None


@app.post("/wechat")
def wechat():
    """Check both signatures, open the message, answer a sealed text reply."""
    inner = open_message()
    return inner if isinstance(inner, Response) else sealed_reply(inner)


def open_message() -> ElementTree.Element | Response:
    """The request's inner message, once both signatures are checked (a 403 if not)."""
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not hmac.compare_digest(signature(TOKEN, timestamp, nonce), args.get("signature", "")):
        return Response("bad signature", status=403)
    encrypted = ElementTree.fromstring(request.get_data()).findtext("Encrypt") or ""
    if not hmac.compare_digest(
        signature(TOKEN, timestamp, nonce, encrypted), args.get("msg_signature", "")
    ):
        return Response("bad signature", status=403)
    return ElementTree.fromstring(SAFE.decrypt(encrypted))


def sealed_reply(inner: ElementTree.Element) -> Response:
    """A text reply to the sender of `inner`, sealed and signed."""
    now = str(int(time.time()))
    reply = (
        f"<xml><ToUserName><![CDATA[{inner.findtext('FromUserName')}]]></ToUserName>"
        f"<FromUserName><![CDATA[{inner.findtext('ToUserName')}]]></FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[ok]]></Content></xml>"
    )
    return Response(
        SAFE.seal(reply, request.args.get("nonce", ""), now), mimetype="application/xml"
    )


@app.get("/v/<code>")
def verify_page(code: str):
    """The verification scenarios' baseline: a small page naming the code, no lookup."""
    return Response(
        f"<!doctype html><title>{code}</title><p>{code}: valid</p>", mimetype="text/html"
    )


@app.get("/v/<code>.json")
def verify_json(code: str):
    return {"code": code, "status": "valid"}


@app.get("/healthz")
def healthz():
    return "ok"
