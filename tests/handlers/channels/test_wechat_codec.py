"""Known answers from WeChat's published message-encryption sample (as carried by wechatpy's own
tests: token 123456, EncodingAESKey kWxPEV2..., id wx49f0ab532d5d035a)."""

import pytest

from bot.core.errors import BadPayload, InvalidSignature
from handlers.channels.wechat_codec import SafeMode, parse_xml, verify_signature

TOKEN = "123456"
KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wx49f0ab532d5d035a"

SAMPLE_ENVELOPE = """<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>
<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>
<AgentID><![CDATA[1]]></AgentID>
</xml>"""
SAMPLE_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
SAMPLE_TIMESTAMP = "1411525903"
SAMPLE_NONCE = "461056294"


def test_sample_message_decrypts_to_the_published_plaintext():
    safe = SafeMode(TOKEN, KEY, APP_ID)
    inner = parse_xml(
        safe.open(parse_xml(SAMPLE_ENVELOPE), SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE)
    )
    assert inner["Content"] == "test"
    assert inner["FromUserName"] == "messense"


def test_sample_signature_of_echostr():
    echo = (
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    )
    verify_signature(
        TOKEN, "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", echo
    )
    with pytest.raises(InvalidSignature):
        verify_signature(
            TOKEN, "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374424", echo
        )


def test_sample_reply_encrypts_to_the_published_ciphertext(monkeypatch):
    monkeypatch.setattr(SafeMode, "random_prefix", lambda self: b"1234567890123456")
    reply = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
    sealed = parse_xml(SafeMode(TOKEN, KEY, APP_ID).seal(reply, "461056294", "1411525903"))
    assert sealed["Encrypt"].startswith(
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk"
    )
    assert sealed["Encrypt"].endswith("8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3")
    assert sealed["MsgSignature"] == "407518b7649e86ef23978113f92d27afa9296533"


def test_wrong_app_id_is_refused():
    safe = SafeMode(TOKEN, KEY, "wx_someone_else")
    with pytest.raises(InvalidSignature):
        safe.open(parse_xml(SAMPLE_ENVELOPE), SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><A>&e;</A></xml>',
        b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><A>&lol2;</A></xml>',
        b"<xml><A>unclosed</xml>",
        b"\xff\xfe not xml",
        b"",
        # a declaration the DOCTYPE check cannot read: UTF-16 (with and without its byte-order
        # mark), and EBCDIC declared in an ASCII prologue
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "AAAA">]><xml><A>&a;</A>'
        "</xml>".encode("utf-16"),
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "A">]><xml><A>&a;</A></xml>'.encode(
            "utf-16-le"
        ),
        b'<?xml version="1.0" encoding="cp037"?>'
        + '<!DOCTYPE x [<!ENTITY a "A">]><xml><A>&a;</A></xml>'.encode("cp037"),
        b'<?xml version="1.0" encoding="GBK"?><xml><A>\xd6\xd0</A></xml>',
    ],
)
def test_hostile_or_broken_xml_is_a_bad_payload(body):
    with pytest.raises(BadPayload):
        parse_xml(body)


def test_plain_utf8_with_cdata_and_character_references_is_read():
    body = "\ufeff<xml><A><![CDATA[张三 <b>]]></A><B>&#x4e2d;&amp;</B><C/></xml>".encode()
    assert parse_xml(body) == {"A": "张三 <b>", "B": "中&", "C": ""}
