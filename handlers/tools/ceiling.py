"""The bench's ceiling: the bare endpoint (`handlers.tools.bare`) plus what the engine's guarantees
cost at the least, and nothing else (no flow, no ORM, no metrics, no reply texts):

- the two Redis round trips, made by the engine's own storage (`RedisStorage.begin` and
  `.commit`: their scripts through `OneTrip`, the state's JSON): the nonce and the delivery claim
  (a retry is answered once), one message of a user at a time, the state's compare-and-set;
- for a sender Redis knows nothing of, the durable record of first contact: one INSERT into
  `accounts` (built once, as the app's) and its commit, through the app's own engine settings
  (`models.make_engine`);
- for the verification page, bare's page after the one round trip that a limit per client
  address shared by every worker needs (the project's fixed-window `RateLimit`).

So where CPU bounds the run (the menu, the verification page), the ceiling's ratio to bare is the
most a callback with gradcert's guarantees can reach on the machine the bench runs on, and the
difference between the ceiling and gradcert is gradcert's own code (README, "Benchmark"). Where a
durable write bounds it (a new user's first message), both wait on the same commit, and the
ceiling's writers, doing nothing else between commits, may meet SQLite's write lock more often
than gradcert's.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, Response, request
from redis import Redis
from sqlalchemy.exc import IntegrityError

from bot.core import keys
from bot.core.messages import Reply, user_tag
from bot.core.state import Begun, RedisStorage
from bot.diploma.lookups import ADDRESS_LIMIT, WINDOW
from bot.platform.ratelimit import RateLimit
from bot.platform.replay import replay_check
from handlers.client_address import client_address
from handlers.tools import bare
from models import Account, make_engine

app = Flask(__name__)
app.config["TRUST_PROXY"] = os.environ.get("TRUST_PROXY", "0")  # as the app reads it
STORAGE = (
    RedisStorage(Redis.from_url(os.environ["REDIS_URL"])) if "REDIS_URL" in os.environ else None
)
ENGINE = make_engine(os.environ["DATABASE_URL"]) if "DATABASE_URL" in os.environ else None
NEW_ACCOUNT = Account.__table__.insert()
REPLY = [Reply("ok")]
BY_ADDRESS = RateLimit(STORAGE.redis, ADDRESS_LIMIT, WINDOW) if STORAGE else None


@app.post("/wechat")
def wechat():
    """Signatures checked and the message opened as bare does; then begin (nonce, claim, lock,
    load), the first contact recorded if the sender is new, the sealed reply, commit (state, retry
    cache, unlock). Anything but a first delivery gets `success`, as WeChat allows."""
    inner = bare.open_message()
    if isinstance(inner, Response):
        return inner
    args = request.args
    openid, msg_id = inner.findtext("FromUserName") or "", inner.findtext("MsgId") or ""
    tag, token = user_tag("wx", bare.APP_ID, openid), secrets.token_hex(8)
    replay = replay_check(
        "wx", args.get("timestamp", ""), args.get("nonce", ""), request.get_data()
    )
    begun = STORAGE.begin(tag, msg_id, token, *replay)
    if begun.outcome is not Begun.READY:
        return "success"
    if begun.loaded.blank:
        _first_contact(openid)
    answer = bare.sealed_reply(inner)
    conv = begun.loaded.conversation
    STORAGE.commit(tag, conv, conv.version, msg_id, REPLY, release_token=token)
    return answer


def _first_contact(openid: str) -> None:
    try:
        with ENGINE.begin() as conn:
            conn.execute(NEW_ACCOUNT, {"channel": "wx", "app_id": bare.APP_ID, "user_key": openid})
    except IntegrityError:  # known to SQL already (the bench's bound users)
        pass


@app.get("/v/<code>")
def verify_page(code: str):
    """Bare's page, once the client address is counted and under its limit."""
    return _limited() or bare.verify_page(code)


@app.get("/v/<code>.json")
def verify_json(code: str):
    return _limited() or bare.verify_json(code)


def _limited() -> Response | None:
    if BY_ADDRESS.hit(keys.verify_by_address(client_address())):
        return Response("too many lookups", status=429)
    return None


@app.get("/healthz")
def healthz():
    return "ok"
