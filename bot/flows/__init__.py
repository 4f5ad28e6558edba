"""The conversation scripts, and the router that sends each message to the right one.

Global rules live here, once: `0`/菜单/重新开始 return to the menu from anywhere; events
(subscribe, menu clicks) and voice without recognised text are handled before any flow.
"""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

from bot import text
from bot.errors import UnknownFlow
from bot.flows import account, appeal, binding, diploma, menu
from bot.flows.base import Context, Outcome
from bot.messages import Effect, Inbound, MessageKind
from bot.state import Conversation

# flow name -> module with `handle(conv, ctx) -> Outcome`
FLOWS: dict[str, ModuleType] = {m.FLOW: m for m in (menu, binding, account, diploma, appeal)}


def register(module: ModuleType) -> None:
    """Make a flow module reachable by the name stored in conversation state."""
    FLOWS[module.FLOW] = module


def route(conv: Conversation, msg: Inbound, ctx: Context) -> Outcome:
    """One step of the conversation for `msg`."""
    if msg.kind is MessageKind.EVENT:
        return _event(conv, msg, ctx)
    if msg.kind is MessageKind.VOICE and not msg.text.strip():
        return Outcome(conv, [ctx.say("system/voice_unclear")])
    if msg.kind in (MessageKind.TEXT, MessageKind.VOICE):
        if text.is_menu_command(msg.text):
            return menu.show(conv, ctx)
        global_intent = menu.intent_of(msg.text)
        if global_intent in (menu.Intent.UNBIND, menu.Intent.DELETE_ME):
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
