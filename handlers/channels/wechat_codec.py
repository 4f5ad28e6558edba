"""WeChat Official Account callbacks on the wire: signatures, safe-mode crypto, XML in and out.

Signatures are compared in constant time; XML with a DOCTYPE or entities is refused before it is
parsed, and so is anything that is not plain UTF-8 (a NUL byte, a UTF-16 or UTF-32 document, a
declared single-byte encoding such as EBCDIC), which could hide a declaration from that check;
the parser (ElementTree's, in C) then reads the bytes as UTF-8 whatever the document declares.
The safe-mode envelope is size-limited and DTD-free before its `msg_signature` is checked, and
decryption checks the app id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import time
from xml.etree.ElementTree import Element, ParseError, XMLParser

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.replies import ArticlesReply

from bot.core.errors import BadPayload, InvalidSignature
from bot.core.messages import Inbound, MessageKind, Reply

TIMESTAMP_WINDOW = 300
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def verify_signature(token: str, signature: str, timestamp: str, nonce: str, *extra: str) -> None:
    """Constant-time check of `signature` (plain) or `msg_signature` (with the Encrypt field)."""
    expected = sha1_signature(token, timestamp, nonce, *extra)
    if not signature or not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise InvalidSignature("bad signature")


def verify_timestamp(timestamp: str, now: float | None = None) -> None:
    """The request must be within 300 s of our clock."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise InvalidSignature("bad timestamp") from None
    if abs((now or time.time()) - ts) > TIMESTAMP_WINDOW:
        raise InvalidSignature("stale timestamp")


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The child elements of `<xml>` as a flat dict; DTDs, entities and malformed XML refused."""
    raw = body.encode() if isinstance(body, str) else body
    if _FORBIDDEN.search(raw):
        raise BadPayload("DTD or entity declaration")
    if b"\0" in raw:  # UTF-16 and UTF-32 need NUL bytes; XML allows none
        raise BadPayload("NUL byte")
    try:
        raw.decode()  # strict: a UTF-16 byte-order mark is not UTF-8 either
        parser = XMLParser(encoding="utf-8")  # the document's declared encoding is ignored
        parser.feed(raw)
        root: Element = parser.close()
    except (UnicodeDecodeError, ParseError, ValueError) as exc:
        raise BadPayload(f"malformed XML: {type(exc).__name__}") from None
    return {child.tag: (child.text or "") for child in root}


class SafeMode:
    """Safe (AES) mode of one Official Account: AES-256-CBC with the key's first 16 bytes as the
    IV, PKCS#7 padding to 32 bytes, plaintext = 16 random bytes + length (4 bytes, big-endian) +
    XML + app id; done with `cryptography` directly (WeChat's published sample is the test)."""

    BLOCK = 32

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self.token = token
        self.app_id = app_id
        self.app_id_bytes = app_id.encode()
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ValueError("WECHAT_ENCODING_AES_KEY must be 43 base64 characters")
        self.key = key
        self.iv = key[:16]
        self.cipher = Cipher(algorithms.AES(key), modes.CBC(self.iv))  # a context per message

    def open(self, envelope: dict[str, str], msg_signature: str, timestamp: str, nonce: str) -> str:
        """Check `msg_signature` over the Encrypt field, then decrypt and check the app id."""
        encrypted = envelope.get("Encrypt", "")
        if not encrypted:
            raise BadPayload("no Encrypt field")
        verify_signature(self.token, msg_signature, timestamp, nonce, encrypted)
        try:
            return self.decrypt(encrypted)
        except (ValueError, struct.error, UnicodeDecodeError):  # bad base64, padding, app id
            raise InvalidSignature("decryption failed or app id mismatch") from None

    def seal(self, reply_xml: str, nonce: str, timestamp: str | None = None) -> str:
        """Encrypt and sign a passive reply."""
        timestamp = timestamp or str(int(time.time()))
        encrypted = self.encrypt(reply_xml.encode())
        signature = sha1_signature(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )

    def random_prefix(self) -> bytes:
        """The 16 random bytes that open every sealed message."""
        return secrets.token_bytes(16)

    def encrypt(self, xml: bytes) -> str:
        """The base64 `Encrypt` value of a message (no signature: `seal` adds it)."""
        plain = self.random_prefix() + struct.pack(">I", len(xml)) + xml + self.app_id_bytes
        pad = self.BLOCK - len(plain) % self.BLOCK
        plain += bytes([pad]) * pad
        encryptor = self.cipher.encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The message inside an `Encrypt` value; ValueError (or struct.error, UnicodeDecodeError)
        when it is not whole, not padded, or for another app id (`open` checks the signature)."""
        data = base64.b64decode(encrypted, validate=True)
        if not data or len(data) % 16:
            raise ValueError("not whole AES blocks")
        decryptor = self.cipher.decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= self.BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise ValueError("bad padding")
        content = plain[16:-pad]
        (length,) = struct.unpack(">I", content[:4])
        if content[4 + length :] != self.app_id_bytes:
            raise ValueError("another app id")
        return content[4 : 4 + length].decode()


# what each identifier of a callback may be: WeChat's openids are 28 characters, media ids 64,
# message ids 64-bit numbers; anything else never reaches SQL, Redis or a log line as it came
IDENTIFIERS = {
    "FromUserName": re.compile(r"[A-Za-z0-9_-]{1,64}"),
    "ToUserName": re.compile(r"[A-Za-z0-9_-]{1,64}"),
    "MsgId": re.compile(r"\d{1,24}"),
    "CreateTime": re.compile(r"\d{1,12}"),
    "MediaId": re.compile(r"[A-Za-z0-9_@.=-]{1,128}"),
    "Event": re.compile(r"[A-Za-z_]{1,32}"),
    "EventKey": re.compile(r"[\x21-\x7e]{0,128}"),
}


def check_identifiers(fields: dict[str, str]) -> None:
    """BadPayload (a 400) unless every identifier present is within its bounds (IDENTIFIERS)."""
    for name, pattern in IDENTIFIERS.items():
        value = fields.get(name)
        if value is not None and not pattern.fullmatch(value):
            raise BadPayload(f"{name} out of bounds ({len(value)} characters)")


def to_inbound(fields: dict[str, str], app_id: str, received_at: float) -> Inbound:
    """The channel-neutral message of a decrypted callback (identifiers checked first)."""
    openid = fields.get("FromUserName", "")
    if not openid:
        raise BadPayload("no FromUserName")
    check_identifiers(fields)
    msg_type = fields.get("MsgType", "").lower()
    kinds = {
        "text": MessageKind.TEXT,
        "voice": MessageKind.VOICE,
        "image": MessageKind.IMAGE,
        "event": MessageKind.EVENT,
    }
    kind = kinds.get(msg_type, MessageKind.OTHER)
    msg_id = fields.get("MsgId") or ":".join(
        (openid, fields.get("CreateTime", ""), fields.get("Event", ""), fields.get("EventKey", ""))
    )
    text = fields.get("Content", "") if kind is MessageKind.TEXT else fields.get("Recognition", "")
    return Inbound(
        channel="wx",
        app_id=app_id,
        user_key=openid,
        msg_id=msg_id,
        kind=kind,
        text=text[:2000],
        media_id=fields.get("MediaId") or None,
        event=fields.get("Event") or None,
        event_key=fields.get("EventKey") or None,
        received_at=received_at,
    )


PASSIVE_LIMIT = 2000  # bytes; WeChat refuses passive text replies over 2048


def split_passive(replies: list[Reply]) -> tuple[Reply | None, list[Reply]]:
    """One passive reply (texts joined, or one link) and the rest to push afterwards."""
    if not replies:
        return None, []
    if replies[0].link_url:
        return replies[0], replies[1:]
    texts: list[str] = []
    rest: list[Reply] = []
    for i, reply in enumerate(replies):
        candidate = "\n\n".join([*texts, reply.text])
        if reply.link_url or (texts and len(candidate.encode()) > PASSIVE_LIMIT):
            rest = replies[i:]
            break
        texts.append(reply.text)
    return Reply("\n\n".join(texts)), rest


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_reply(reply: Reply, openid: str, account: str) -> str:
    """Passive reply XML: text (built here, CDATA-escaped), or a one-article news message."""
    if reply.link_url:
        article = {
            "title": reply.link_title or "链接",
            "description": reply.text,
            "image": "",
            "url": reply.link_url,
        }
        return ArticlesReply(target=openid, source=account, articles=[article]).render()
    return (
        f"<xml><ToUserName>{_cdata(openid)}</ToUserName><FromUserName>{_cdata(account)}"
        f"</FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content>{_cdata(reply.text)}</Content></xml>"
    )
