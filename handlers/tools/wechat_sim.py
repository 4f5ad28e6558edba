"""A simulated WeChat server: builds signed (and, with an AES key, encrypted) callbacks and reads
the passive replies. `gradcert chat`, `gradcert bench` and the tests all talk to /wechat this way."""

from __future__ import annotations

import secrets
import time
from itertools import count

import defusedxml.ElementTree as SafeET
from wechatpy.crypto import WeChatCrypto

from handlers.channels.wechat_codec import parse_xml, sha1_signature

_ids = count(int(time.time() * 1000) % 10**9 * 1000)


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class WeChatSimulator:
    """Signs callbacks the way WeChat does for one Official Account."""

    def __init__(
        self, token: str, app_id: str, aes_key: str = "", account: str = "gh_gradcert"
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.account = account
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None

    def message(
        self, openid: str, msg_type: str, msg_id: str | None = None, **fields: str
    ) -> tuple[dict, bytes]:
        """(query string, body) for one callback; `fields` are extra XML elements."""
        now = str(int(time.time()))
        parts = {
            "ToUserName": self.account,
            "FromUserName": openid,
            "CreateTime": now,
            "MsgType": msg_type,
            **fields,
        }
        if msg_type != "event":
            parts["MsgId"] = msg_id or str(next(_ids))
        inner = (
            "<xml>"
            + "".join(
                f"<{k}>{v}</{k}>" if k in ("CreateTime", "MsgId") else f"<{k}>{_cdata(v)}</{k}>"
                for k, v in parts.items()
            )
            + "</xml>"
        )
        return self.sign(inner, openid)

    def sign(
        self,
        inner_xml: str,
        openid: str = "",
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> tuple[dict, bytes]:
        """Sign (and seal, in safe mode) a raw inner XML body."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        query = {
            "signature": sha1_signature(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": openid,
        }
        if self.crypto is None:
            return query, inner_xml.encode()
        sealed = self.crypto.encrypt_message(inner_xml, nonce, timestamp)
        envelope = parse_xml(sealed)
        query.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        body = f"<xml><ToUserName>{_cdata(self.account)}</ToUserName><Encrypt>{_cdata(envelope['Encrypt'])}</Encrypt></xml>"
        return query, body.encode()

    def text(self, openid: str, content: str, msg_id: str | None = None) -> tuple[dict, bytes]:
        """A text message."""
        return self.message(openid, "text", msg_id, Content=content)

    def voice(self, openid: str, recognition: str | None) -> tuple[dict, bytes]:
        """A voice message with (or without) WeChat's recognised text."""
        extra = {"MediaId": "voice-" + secrets.token_hex(4), "Format": "amr"}
        if recognition is not None:
            extra["Recognition"] = recognition
        return self.message(openid, "voice", **extra)

    def image(self, openid: str, media_id: str = "") -> tuple[dict, bytes]:
        """An image message."""
        media_id = media_id or "media-" + secrets.token_hex(6)
        return self.message(openid, "image", PicUrl="http://127.0.0.1/pic.jpg", MediaId=media_id)

    def event(self, openid: str, event: str, key: str = "") -> tuple[dict, bytes]:
        """An event (subscribe, unsubscribe, CLICK with a key)."""
        extra = {"Event": event}
        if key:
            extra["EventKey"] = key
        return self.message(openid, "event", **extra)

    def inner_xml(self, body: bytes | str) -> str:
        """The passive reply's XML ('' for `success` or an empty body), decrypted in safe mode."""
        raw = body.decode() if isinstance(body, bytes) else body
        if raw.strip() in ("", "success"):
            return ""
        if self.crypto is None:
            return raw
        fields = parse_xml(raw)
        return self.crypto.decrypt_message(
            raw, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
        )

    def read(self, body: bytes | str) -> dict[str, str]:
        """The top-level fields of a passive reply ({} when there is none)."""
        inner = self.inner_xml(body)
        return parse_xml(inner) if inner else {}

    def reply_text(self, body: bytes | str) -> str:
        """The text of a passive reply ('' when there is none); a news reply gives title, text, URL."""
        inner = self.inner_xml(body)
        if not inner:
            return ""
        fields = parse_xml(inner)
        if fields.get("MsgType") == "news":
            item = SafeET.fromstring(inner).find("./Articles/item")
            return "\n".join(item.findtext(tag, "") for tag in ("Title", "Description", "Url"))
        return fields.get("Content", "")
