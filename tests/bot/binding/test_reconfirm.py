"""Periodic re-confirmation through the real callback: a week before a binding is a year past its
last SMS check the graduate is told (once), and at the next look-up after that the bot asks for a
fresh code with the yearly reason; the code re-confirms it for another period. 0 switches it off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.platform.workdays import local
from models import Binding, utcnow
from tests.bot.diploma.test_script import _skip_send_limits
from tests.conftest import APP_ID, Chat, outbox
from tests.handlers.console.test_proxies import pushed
from tests.miniapp_support import add_diploma
from tests.stubs import wechat_api_stub


def bind(app, chat):
    """李小红 bound on `g1` with a diploma on file; returns her phone."""
    from bot.platform.demo import demo_students, seed_demo

    seed_demo(app.extensions["gradcert"])
    _, _, id_number, phone, _ = {r[1]: r for r in demo_students()}["李小红"]
    chat.say("g1", "1")
    chat.say("g1", "1")
    chat.say("g1", f"李小红 {id_number} 2017020118")
    assert "绑定成功" in chat.say("g1", last_code(chat, phone))
    add_diploma(app, "2017020118")
    return phone


def last_code(chat, phone) -> str:
    chat.run_jobs()
    return [m for m in outbox(chat.app) if m["phone"] == phone][-1]["code"]


def sweep_at(app, chat, moment) -> None:
    from handlers.jobs import sweep

    app.extensions["gradcert"].domain.clock = lambda: moment
    with app.app_context():
        sweep()
    chat.run_jobs()


def reminders(stub) -> list[str]:
    return [text for user, text in pushed(stub) if user == "g1" and "满一年未验证" in text]


@pytest.fixture
def wx(make_app):
    stub = wechat_api_stub(APP_ID, "s3cret")
    yield (
        stub,
        lambda **config: make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url, **config),
    )
    stub.stop()


def test_told_a_week_before_then_asked_for_a_fresh_code_with_the_yearly_reason(wx):
    stub, build = wx
    app = build()
    chat = Chat(app)
    phone = bind(app, chat)
    bound_at = utcnow()
    sweep_at(app, chat, bound_at + timedelta(days=300))
    assert reminders(stub) == []
    sweep_at(app, chat, bound_at + timedelta(days=359))
    told = reminders(stub)
    due = f"{local(bound_at + timedelta(days=365)):%Y-%m-%d}"
    assert len(told) == 1 and due in told[0] and "李*" in told[0] and len(told[0]) <= 200
    sweep_at(app, chat, bound_at + timedelta(days=361))  # once per period
    assert len(reminders(stub)) == 1
    # past the year: the next look-up asks for a code, saying why
    app.extensions["gradcert"].domain.clock = lambda: bound_at + timedelta(days=366)
    _skip_send_limits(app)  # the code sent at binding was a moment ago in real time
    codes_before = len(outbox(app))
    asked = chat.say("g1", "2")
    assert "已满一年" in asked and "重新确认身份" in asked and "139321202105001234" not in asked
    code = last_code(chat, phone)
    assert len(outbox(app)) == codes_before + 1
    assert "139321202105001234" in chat.say("g1", code)
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        binding = db.scalar(select(Binding).where(Binding.state == "active"))
        assert local(binding.verified_at).date() == local(bound_at + timedelta(days=366)).date()
    # re-confirmed: no notice until the next period nears
    sweep_at(app, chat, bound_at + timedelta(days=366 + 300))
    assert len(reminders(stub)) == 1
    sweep_at(app, chat, bound_at + timedelta(days=366 + 359))
    assert len(reminders(stub)) == 2


def test_an_ordinary_stale_check_keeps_its_own_words_and_zero_switches_it_off(wx):
    stub, build = wx
    app = build(GRADCERT_RECONFIRM_DAYS="0")
    chat = Chat(app)
    bind(app, chat)
    bound_at = utcnow()
    sweep_at(app, chat, bound_at + timedelta(days=400))
    assert reminders(stub) == []
    app.extensions["gradcert"].domain.clock = lambda: bound_at + timedelta(days=400)
    _skip_send_limits(app)
    asked = chat.say("g1", "2")
    assert "查看证书前要再验证一次" in asked and "满一年" not in asked
