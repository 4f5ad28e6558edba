"""The bench's own parts: the safe-mode codec its prepared requests and the bare baseline share with
the callback (checked against wechatpy both ways), the baseline refusing what it must, and
prepared requests that the real callback answers. The bench itself runs in
tests/system/test_bench.py."""

from __future__ import annotations

import importlib

from wechatpy.crypto import PrpCrypto, WeChatCrypto

from handlers.channels.wechat_codec import SafeMode
from handlers.channels.wechat_codec import sha1_signature as signature
from handlers.tools import bench
from handlers.tools.wechat_sim import WeChatSimulator
from tests.conftest import AES_KEY, APP_ID, TOKEN


def test_sealed_by_us_opens_in_wechatpy_and_back():
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    safe = SafeMode(TOKEN, AES_KEY, APP_ID)
    ours = safe.encrypt("<xml><Content>你好</Content></xml>".encode())
    assert PrpCrypto(crypto.key).decrypt(ours, APP_ID) == "<xml><Content>你好</Content></xml>"
    theirs = PrpCrypto(crypto.key).encrypt("菜单 menu", APP_ID)
    assert safe.decrypt(theirs.decode()) == "菜单 menu"


def test_same_random_prefix_gives_wechatpys_bytes():
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    prp = PrpCrypto(crypto.key)
    prp.get_random_string = lambda: "0123456789abcdef"
    safe = SafeMode(TOKEN, AES_KEY, APP_ID)
    safe.random_prefix = lambda: b"0123456789abcdef"
    assert safe.encrypt(b"hello") == prp.encrypt("hello", APP_ID).decode()


def test_a_message_for_another_app_is_not_opened():
    other = SafeMode(TOKEN, AES_KEY, "wxanotherapp0001").encrypt(b"<xml/>")
    try:
        SafeMode(TOKEN, AES_KEY, APP_ID).decrypt(other)
    except ValueError:
        return
    raise AssertionError("opened a message sealed for another app id")


def _bare(monkeypatch):
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", AES_KEY)
    from handlers.tools import bare

    return importlib.reload(bare).app.test_client()


def test_bare_baseline_answers_a_sealed_reply_and_refuses_bad_signatures(monkeypatch):
    client = _bare(monkeypatch)
    sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY)
    query, body = sim.text("o-bench", "菜单")
    res = client.post("/wechat", query_string=query, data=body)
    assert res.status_code == 200
    assert sim.read(res.data)["ToUserName"] == "o-bench"
    assert sim.reply_text(res.data) == "ok"
    forged = dict(query, msg_signature=signature("wrong", query["timestamp"], query["nonce"]))
    assert client.post("/wechat", query_string=forged, data=body).status_code == 403


def test_prepared_requests_are_answered_by_the_real_callback(make_app):
    app = make_app(WECHAT_ENCODING_AES_KEY=AES_KEY)
    client = app.test_client()
    prepared = bench.Requests(TOKEN, AES_KEY, APP_ID)
    sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY, account=bench.ACCOUNT)
    path = None
    for content in ("你好", "菜单"):
        target, body = prepared.one("o-prepared", content)
        assert target != path  # a nonce and a MsgId of its own each time
        path = target
        res = client.post(target, data=body, content_type="text/xml")
        assert res.status_code == 200
        assert "绑定" in sim.reply_text(res.data)


def test_requests_file_users_take_turns(tmp_path):
    prepared = bench.Requests(TOKEN, AES_KEY)
    scenario = bench.Scenario("t", "test", "菜单", 3, 1, "绑定")
    path = tmp_path / "r.req"
    prepared.write(str(path), scenario, 7, "x")
    lines = path.read_bytes().splitlines()
    assert len(lines) == 7
    users = [line.split(b"openid=")[1].split(b"&")[0] for line in lines]
    assert users[:3] == [b"bench-user-00000", b"bench-user-00001", b"bench-user-00002"]
    assert users[3] == users[0]
    assert len({line.split(b"nonce=")[1].split(b"&")[0] for line in lines}) == 7


def test_verification_requests_come_from_addresses_never_reused(tmp_path):
    prepared = bench.Requests(TOKEN, AES_KEY)
    json_scenario = next(s for s in bench.SCENARIOS if s.name == "verify-json")
    first, second = tmp_path / "1.req", tmp_path / "2.req"
    prepared.write(str(first), json_scenario, 5, "a", ["CODE0000AAAA", "CODE0000BBBB"])
    prepared.write(str(second), json_scenario, 5, "b", ["CODE0000AAAA", "CODE0000BBBB"])
    lines = [line.split(b"\t") for line in (first.read_bytes() + second.read_bytes()).splitlines()]
    assert [path for path, _, _ in lines[:3]] == [
        b"/v/CODE0000AAAA.json",
        b"/v/CODE0000BBBB.json",
        b"/v/CODE0000AAAA.json",
    ]
    assert len({address for _, _, address in lines}) == 10


def test_bare_verification_baseline_answers_without_a_lookup(monkeypatch):
    client = _bare(monkeypatch)
    assert client.get("/v/CODE0000AAAA.json").get_json() == {
        "code": "CODE0000AAAA",
        "status": "valid",
    }
    assert "CODE0000AAAA: valid" in client.get("/v/CODE0000AAAA").get_data(as_text=True)


def test_the_ceiling_pays_for_the_guarantees_and_nothing_else(
    monkeypatch, make_app, redis_url, database_url
):
    """The ceiling answers a first delivery once (a retry and a replayed nonce get `success`),
    records a new sender's first contact in SQL and keeps the state's version, checks signatures
    before it touches Redis, and leaves no lock behind."""
    from sqlalchemy import func, select

    from bot.core import keys
    from bot.core.messages import user_tag
    from handlers.tools import ceiling
    from models import Account, make_engine

    make_app()  # a clean database and Redis
    _bare(monkeypatch)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    client = importlib.reload(ceiling).app.test_client()
    sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY)
    tag = user_tag("wx", APP_ID, "o-ceiling")
    query, body = sim.text("o-ceiling", "菜单")
    forged = dict(query, msg_signature=signature("wrong", query["timestamp"], query["nonce"]))
    assert client.post("/wechat", query_string=forged, data=body).status_code == 403
    assert not ceiling.STORAGE.redis.exists(keys.lock(tag))

    first = client.post("/wechat", query_string=query, data=body)
    assert sim.reply_text(first.data) == "ok"
    again = client.post("/wechat", query_string=query, data=body)
    assert again.data == b"success"
    inner = (
        "<xml><FromUserName>o-ceiling</FromUserName><MsgType>text</MsgType><MsgId>7</MsgId></xml>"
    )
    replayed = sim.sign(inner, "o-ceiling", timestamp=query["timestamp"], nonce=query["nonce"])
    assert client.post("/wechat", query_string=replayed[0], data=replayed[1]).data == b"success"
    other_query, other_body = sim.text("o-ceiling", "2")
    second = client.post("/wechat", query_string=other_query, data=other_body)
    assert sim.reply_text(second.data) == "ok"

    assert ceiling.STORAGE.load(tag)[0].version == 2
    assert not ceiling.STORAGE.redis.exists(keys.lock(tag))
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Account)) == 1
    engine.dispose()
    ceiling.ENGINE.dispose()


def test_the_ceilings_verification_page_counts_each_address(
    monkeypatch, make_app, redis_url, database_url
):
    from handlers.tools import ceiling

    make_app()
    _bare(monkeypatch)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRUST_PROXY", "1")
    client = importlib.reload(ceiling).app.test_client()
    one = {"X-Forwarded-For": "10.0.0.1"}
    for _ in range(ceiling.ADDRESS_LIMIT):
        assert client.get("/v/CODE0000AAAA.json", headers=one).get_json()["status"] == "valid"
    assert client.get("/v/CODE0000AAAA", headers=one).status_code == 429
    page = client.get("/v/CODE0000AAAA", headers={"X-Forwarded-For": "10.0.0.2"})
    assert "CODE0000AAAA: valid" in page.get_data(as_text=True)
    ceiling.ENGINE.dispose()
