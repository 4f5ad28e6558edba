"""The bench's baseline: a bare Flask endpoint served the same way as the real app, doing what any
safe-mode WeChat callback must do and nothing more: check the URL signature and `msg_signature`,
open the AES envelope, read the sender, seal a text reply and sign it. No state, no database.

`seal` and `open_sealed` are WeChat's safe-mode protocol written directly on `cryptography`
(AES-256-CBC, PKCS#7 to 32 bytes, IV = the key's first 16 bytes, body = 16 random bytes, the
length, the message, the app id); `gradcert bench` seals its prepared requests with them too, and
tests/handlers/tools check them against wechatpy both ways.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import struct
import time
from xml.etree import ElementTree

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import Flask, Response, request


def _key(aes_key: str) -> bytes:
    return base64.b64decode(aes_key + "=")


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def seal(aes_key: str, app_id: str, plain: str, random16: bytes | None = None) -> str:
    """The base64 `Encrypt` value of `plain` for `app_id`."""
    key = _key(aes_key)
    text = plain.encode()
    data = (random16 or secrets.token_bytes(16)) + struct.pack(">I", len(text)) + text
    data += app_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def open_sealed(aes_key: str, app_id: str, encrypted: str) -> str:
    """The message inside an `Encrypt` value; ValueError when it is not for `app_id`."""
    key = _key(aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    pad = data[-1]
    if not 1 <= pad <= 32:
        raise ValueError("bad padding")
    data = data[16:-pad]
    (length,) = struct.unpack(">I", data[:4])
    if data[4 + length :].decode() != app_id:
        raise ValueError("not for this app id")
    return data[4 : 4 + length].decode()


app = Flask(__name__)
TOKEN = os.environ.get("WECHAT_TOKEN", "")
APP_ID = os.environ.get("WECHAT_APP_ID", "")
AES_KEY = os.environ.get("WECHAT_ENCODING_AES_KEY", "")


@app.post("/wechat")
def wechat():
    """Check both signatures, open the message, answer a sealed text reply."""
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not hmac.compare_digest(signature(TOKEN, timestamp, nonce), args.get("signature", "")):
        return Response("bad signature", status=403)
    encrypted = ElementTree.fromstring(request.get_data()).findtext("Encrypt") or ""
    if not hmac.compare_digest(
        signature(TOKEN, timestamp, nonce, encrypted), args.get("msg_signature", "")
    ):
        return Response("bad signature", status=403)
    inner = ElementTree.fromstring(open_sealed(AES_KEY, APP_ID, encrypted))
    now = str(int(time.time()))
    reply = (
        f"<xml><ToUserName><![CDATA[{inner.findtext('FromUserName')}]]></ToUserName>"
        f"<FromUserName><![CDATA[{inner.findtext('ToUserName')}]]></FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[ok]]></Content></xml>"
    )
    sealed = seal(AES_KEY, APP_ID, reply)
    envelope = (
        f"<xml><Encrypt><![CDATA[{sealed}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{signature(TOKEN, now, nonce, sealed)}]]></MsgSignature>"
        f"<TimeStamp>{now}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )
    return Response(envelope, mimetype="application/xml")


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
