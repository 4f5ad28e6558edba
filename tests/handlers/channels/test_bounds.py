"""Inputs out of bounds never reach SQL and are never trusted (issue 12): identifiers of a WeChat
callback are bounded (400, nothing logged at ERROR), and a message to another account is refused
(403) when WECHAT_ORIGINAL_ID is set."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from handlers.tools.wechat_sim import WeChatSimulator
from models import Account
from tests.conftest import APP_ID, TOKEN, Chat


def _accounts(app) -> int:
    with app.extensions["gradcert"].sessions() as db:
        return db.scalar(select(func.count()).select_from(Account))


@pytest.mark.parametrize(
    "fields",
    [
        {"FromUserName": "o" * 10_000},
        {"FromUserName": "o-user'; drop table accounts;--"},
        {"FromUserName": "o-user\u202e"},
        {"MsgId": "1" * 200},
        {"MsgId": "not-a-number"},
        {"MediaId": "m" * 1000, "MsgType": "image"},
        {"EventKey": "k" * 5000, "MsgType": "event", "Event": "CLICK"},
        {"ToUserName": "gh_" + "x" * 300},
    ],
)
def test_identifiers_out_of_bounds_are_a_400_before_any_sql(app, chat, caplog, fields):
    sim = chat.sim
    parts = {
        "ToUserName": sim.account,
        "FromUserName": "o-user",
        "CreateTime": "1700000000",
        "MsgType": "text",
        "Content": "你好",
        "MsgId": "1234567",
        **fields,
    }
    inner = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in parts.items()) + "</xml>"
    with caplog.at_level(logging.WARNING):
        res = chat.post(*sim.sign(inner, "o-user"))
    assert res.status_code == 400
    assert _accounts(app) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert all("o" * 100 not in r.getMessage() for r in caplog.records)


def test_an_ordinary_message_still_passes(app, chat):
    assert chat.say("oABCD-efgh_1234567890123456", "你好")
    assert _accounts(app) == 1


def test_a_message_to_another_account_is_refused_when_the_original_id_is_set(make_app):
    app = make_app(WECHAT_ORIGINAL_ID="gh_0123456789ab")
    ours, theirs = Chat(app), Chat(app)
    ours.sim = WeChatSimulator(TOKEN, APP_ID, account="gh_0123456789ab")
    theirs.sim = WeChatSimulator(TOKEN, APP_ID, account="gh_someoneelse1")
    refused = theirs.post(*theirs.sim.text("o-user", "你好"))
    assert refused.status_code == 403 and _accounts(app) == 0
    assert ours.say("o-user", "你好")
    assert _accounts(app) == 1
    # without the setting, any ToUserName is answered (as before it was configured)
    open_app = make_app()
    assert Chat(open_app).post(*theirs.sim.text("o-user", "你好")).status_code == 200
