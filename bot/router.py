"""The conversation scripts, and the router that sends each message to the right one.

Global rules live here, once: `0`/菜单/重新开始 return to the menu from anywhere; events
(subscribe, menu clicks) and voice without recognised text are handled before any flow.
"""

from __future__ import annotations

import re
from dataclasses import replace
from types import ModuleType

from bot import understand as text
from bot.account import menu
from bot.account import script as account
from bot.appeals import script as appeal
from bot.binding import script as binding
from bot.core.errors import UnknownFlow
from bot.core.flow import Context, Outcome
from bot.core.messages import Effect, Inbound, MessageKind
from bot.core.state import Conversation
from bot.diploma import script as diploma
from bot.proxies import script as proxy

# flow name -> module with `handle(conv, ctx) -> Outcome`
FLOWS: dict[str, ModuleType] = {m.FLOW: m for m in (menu, binding, account, diploma, appeal, proxy)}


def register(module: ModuleType) -> None:
    """Make a flow module reachable by the name stored in conversation state."""
    FLOWS[module.FLOW] = module


def route(conv: Conversation, msg: Inbound, ctx: Context) -> Outcome:
    """One step of the conversation for `msg`; while acting for a graduate, the proxy must still be
    active (checked on every message) and every reply says for whom."""
    if conv.acting_for is not None and not _still_acting(conv, ctx):
        return menu.show(replace(conv, acting_for=None), ctx, prefix="proxy/ended")
    outcome = _route(conv, msg, ctx)
    if outcome.conversation.acting_for is not None and outcome.replies:
        tag = ctx.book.render("proxy/acting_tag", name=_acting_name(outcome.conversation, ctx))
        first = outcome.replies[0]
        outcome.replies[0] = replace(first, text=f"{tag}{first.text}")
    return outcome


def _route(conv: Conversation, msg: Inbound, ctx: Context) -> Outcome:
    if msg.kind is MessageKind.EVENT:
        return _event(conv, msg, ctx)
    if msg.kind is MessageKind.VOICE and not msg.text.strip():
        return Outcome(conv, [ctx.say("system/voice_unclear")])
    if msg.kind in (MessageKind.TEXT, MessageKind.VOICE):
        if text.is_menu_command(msg.text):
            if conv.idle and text.number_token(msg.text) == "0":  # at the menu, 0 is its help item
                return menu.show(conv, ctx, prefix="menu/help")
            return menu.show(conv, ctx)
        answer = re.match(r"^(同意代办|拒绝代办|不同意代办)", text.clean(msg.text))
        if answer:
            return proxy.graduate_answer(conv, ctx, answer.group(1) == "同意代办")
        global_intent = menu.intent_of(msg.text)
        if global_intent is menu.Intent.MY_PROXIES:
            return proxy.start_mine(conv, ctx)
        if global_intent in menu.GLOBAL:
            return menu.start(conv, ctx, global_intent)
    if msg.kind is MessageKind.OTHER:
        return Outcome(conv, [ctx.say("system/unsupported_kind")])
    flow = FLOWS.get(conv.flow)
    if flow is None:
        raise UnknownFlow(conv.flow)
    return flow.handle(conv, ctx)


def _event(conv: Conversation, msg: Inbound, ctx: Context) -> Outcome:
    event = (msg.event or "").lower()
    if event == "subscribe":
        outcome = menu.show(conv, ctx, prefix="menu/welcome")
        outcome.effects.append(Effect("account_subscribed", queued=False))
        return outcome
    if event == "unsubscribe":
        return Outcome(conv, [], [Effect("account_unsubscribed", queued=False)])
    if event == "click":
        intent = menu.CLICK_KEYS.get(msg.event_key or "")
        if intent is not None:
            return menu.start(conv, ctx, intent)
        return menu.show(conv, ctx)
    # Other events (VIEW, LOCATION, template delivery reports...) need no reply.
    return Outcome(replace(conv), [])


def _still_acting(conv: Conversation, ctx: Context) -> bool:
    from bot.proxies import rules as proxies

    actives = proxies.actives_of(ctx.services.db, ctx.services.account.id, ctx.services.now())
    return any(p.student_id == conv.acting_for for p in actives)


def _acting_name(conv: Conversation, ctx: Context) -> str:
    from bot.platform.idcard import mask_name
    from models import Student

    student = ctx.services.db.get(Student, conv.acting_for)
    return mask_name(student.name) if student else ""
