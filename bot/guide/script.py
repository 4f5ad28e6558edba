"""其他查询渠道: what each of the other channels covers, when its data appear, how long it takes and
what costs money. The facts are the college's settings (bot.core.college); the words are
templates/replies/guide/.

    topics   1 学信网  2 川教通  3 英文认证  4 专业名称不一样; a keyword answers its topic too

Reached from the menu (6), from the no-record answers, and by keywords at the menu (学信网, 川教通,
认证, 英文, 专业名称不一样: read by bot.understand.guide_topic).
"""

from __future__ import annotations

from enum import auto

from bot import understand as text
from bot.account import menu
from bot.core.flow import Context, Outcome
from bot.core.state import Conversation, FlowStep

FLOW = "guide"
# the numbered topics in the order the overview lists them
TOPICS = ("chsi", "chuanjiaotong", "english", "major_name")


class GuideStep(FlowStep):
    TOPICS = auto()


def start(conv: Conversation, ctx: Context) -> Outcome:
    """The overview of the other channels."""
    return ctx.reply(conv.at(FLOW, GuideStep.TOPICS), "guide/channels", "1", "2", "3", "4", "0")


def answer(conv: Conversation, ctx: Context, topic: str) -> Outcome:
    """One topic (`channels` is the overview); numbers then pick the other topics."""
    if topic not in TOPICS:
        return start(conv, ctx)
    return ctx.reply(conv.at(FLOW, GuideStep.TOPICS), f"guide/{topic}", "1", "2", "3", "4", "0")


def handle(conv: Conversation, ctx: Context) -> Outcome:
    """Dispatch to the current step."""
    return STEPS[GuideStep(conv.step)](conv, ctx)


def topics(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, len(TOPICS))
    if picked is not None:
        return answer(conv, ctx, TOPICS[picked - 1])
    topic = text.guide_topic(ctx.msg.text)
    if topic is not None:
        return answer(conv, ctx, topic)
    if text.number_token(ctx.msg.text).isdigit():  # 5, 9: not a topic here
        return ctx.retry(conv, "guide/channels", "1", "2", "3", "4", "0")
    intent = menu.intent_of(ctx.msg.text)  # 查毕业证, 异议...: what the menu would start
    if intent is not None:
        return ctx.start(conv.home(), ctx, intent)
    return menu.show(conv, ctx, prefix="menu/not_understood")


STEPS = {GuideStep.TOPICS: topics}
