"""The routing table of the conversation: which script answers a message, and which flow each menu
choice starts. Nothing registers itself: the tables below are the whole map.

Global rules live here, once: `0`/菜单/重新开始 return to the menu from anywhere; events
(subscribe, menu clicks) and voice without recognised text are handled before any flow; while a
proxy acts for a graduate, the proxy is re-checked on every message and every reply says for whom.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from bot import understand as text
from bot.account import menu
from bot.account import script as account
from bot.account.menu import Intent
from bot.appeals import script as appeal
from bot.binding import script as binding
from bot.core.effects import account_subscribed, account_unsubscribed
from bot.core.errors import UnknownFlow
from bot.core.flow import Context, Outcome
from bot.core.messages import Effect, Inbound, MessageKind
from bot.core.state import Conversation
from bot.diploma import script as diploma
from bot.guide import script as guide
from bot.lost import script as lost
from bot.platform.idcard import mask_name
from bot.proxies import rules as proxies
from bot.proxies import script as proxy
from models import Student

Step = Callable[[Conversation, Context], Outcome]

# flow name stored in the conversation state -> the script step that handles its messages
FLOWS: dict[str, Step] = {
    binding.FLOW: binding.handle,
    account.FLOW: account.handle,
    diploma.FLOW: diploma.handle,
    appeal.FLOW: appeal.handle,
    proxy.FLOW: proxy.handle,
    guide.FLOW: guide.handle,
    lost.FLOW: lost.handle,
}

# what each menu choice, menu click or keyword starts
STARTERS: dict[Intent, Step] = {
    Intent.BIND: binding.start,
    Intent.DIPLOMA: diploma.start,
    Intent.APPEAL: appeal.start,
    Intent.MY_APPEALS: appeal.my_appeals,
    Intent.PROXY: proxy.start,
    Intent.UNBIND: account.start_unbind,
    Intent.DELETE_ME: account.start_delete,
    Intent.MY_PROXIES: proxy.start_mine,
    Intent.GUIDE: guide.start,
    Intent.LOST: lost.start,
}

_PROXY_ANSWER = re.compile(r"^(同意代办|拒绝代办|不同意代办)")


def route(conv: Conversation, msg: Inbound, ctx: Context) -> Outcome:
    """One step of the conversation for `msg`."""
    ctx = replace(ctx, start=start)
    if conv.acting_for is not None and not _still_acting(conv, ctx):
        return menu.show(replace(conv, acting_for=None), ctx, prefix="proxy/ended")
    outcome = _route(conv, msg, ctx)
    if ctx.expired:  # said plainly, with the hint about proxies only to those who have one
        acting = bool(
            proxies.actives_of(ctx.services.db, ctx.services.account_id, ctx.services.now())
        )
        told = "system/lost" if ctx.lost else "system/expired"
        outcome.replies.insert(0, ctx.say(told, acting=acting))
    if outcome.conversation.acting_for is not None and outcome.replies:
        tag = ctx.book.render("proxy/acting_tag", name=_acting_name(outcome.conversation, ctx))
        first = outcome.replies[0]
        outcome.replies[0] = replace(first, text=f"{tag}{first.text}")
    return outcome


def start(conv: Conversation, ctx: Context, intent: Intent, carry: dict | None = None) -> Outcome:
    """Enter the flow behind `intent` from anywhere (`carry`: data the flow may reuse)."""
    if intent is Intent.HELP:
        return Outcome(conv.home(), [ctx.say("menu/help")])
    if intent is Intent.GREETING:
        return menu.show(conv, ctx, prefix="menu/greeting")
    if intent is Intent.THANKS:
        return Outcome(conv.home(), [ctx.say("menu/thanks")])
    fresh = Conversation(version=conv.version, acting_for=conv.acting_for, data=dict(carry or {}))
    return STARTERS[intent](fresh, ctx)


def _route(conv: Conversation, msg: Inbound, ctx: Context) -> Outcome:
    if msg.kind is MessageKind.EVENT:
        return _event(conv, msg, ctx)
    if msg.kind is MessageKind.VOICE and not msg.text.strip():
        return Outcome(conv, [ctx.say("system/voice_unclear")])
    if msg.kind in (MessageKind.TEXT, MessageKind.VOICE):
        if text.is_menu_command(msg.text):
            if conv.idle and text.number_token(msg.text) == "0":  # at the menu, 0 is its help item
                return menu.show(conv, ctx, prefix="menu/help_short")
            return menu.show(conv, ctx)
        if conv.flow != menu.FLOW and menu.asks_for_help(msg.text):  # the form waits meanwhile
            return Outcome(conv, [ctx.say("menu/help_here")])
        answer = _PROXY_ANSWER.match(text.clean(msg.text))
        if answer:
            return proxy.graduate_answer(conv, ctx, answer.group(1) == "同意代办")
        global_intent = menu.intent_of(msg.text)
        if global_intent in menu.GLOBAL:
            return start(conv, ctx, global_intent)
    if msg.kind is MessageKind.OTHER:
        return Outcome(conv, [ctx.say("system/unsupported_kind")])
    if conv.flow == menu.FLOW:
        return _at_menu(conv, ctx)
    step = FLOWS.get(conv.flow)
    if step is None:
        raise UnknownFlow(conv.flow)
    return step(conv, ctx)


def _at_menu(conv: Conversation, ctx: Context) -> Outcome:
    """A message at the menu: a choice starts its flow; other text or a photo goes to a ticket
    that waits for more information; anything else gets guidance."""
    if ctx.msg.kind is MessageKind.IMAGE:
        return appeal.add_information(conv, ctx) or menu.show(
            conv, ctx, prefix="menu/photo_not_needed"
        )
    intent = menu.intent_of(ctx.msg.text, phrases=menu.CHATTER)
    if intent is not None:
        return start(conv, ctx, intent)
    added = appeal.add_information(conv, ctx)  # a ticket waiting for information takes the text
    if added is not None:
        return added
    topic = text.guide_topic(ctx.msg.text)  # 学信网, 川教通, 认证, 英文, 专业名称不一样
    if topic is not None:
        return guide.answer(conv, ctx, topic)
    intent = menu.intent_of(ctx.msg.text)
    if intent is not None:
        return start(conv, ctx, intent)
    if ctx.expired:  # most likely the answer to a step that timed out: not "not understood"
        return menu.show(conv, ctx)
    return menu.show(conv, ctx, prefix="menu/not_understood")


def _event(conv: Conversation, msg: Inbound, ctx: Context) -> Outcome:
    event = (msg.event or "").lower()
    if event == "subscribe":
        outcome = menu.show(conv, ctx, prefix="menu/welcome")
        outcome.effects.append(Effect(account_subscribed, queued=False))
        return outcome
    if event == "unsubscribe":
        return Outcome(conv, [], [Effect(account_unsubscribed, queued=False)])
    if event == "click":
        intent = menu.CLICK_KEYS.get(msg.event_key or "")
        if intent is not None:
            return start(conv, ctx, intent)
        return menu.show(conv, ctx)
    # Other events (VIEW, LOCATION, template delivery reports...) need no reply.
    return Outcome(replace(conv), [])


def _still_acting(conv: Conversation, ctx: Context) -> bool:
    actives = proxies.actives_of(ctx.services.db, ctx.services.account_id, ctx.services.now())
    return any(p.student_id == conv.acting_for for p in actives)


def _acting_name(conv: Conversation, ctx: Context) -> str:
    student = ctx.services.db.get(Student, conv.acting_for)
    return mask_name(student.name) if student else ""
