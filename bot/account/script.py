"""The user's own data: 解绑 (unbind) and 删除我的信息 (delete what we hold), each confirmed."""

from __future__ import annotations

from enum import auto

from bot import understand as text
from bot.account.rules import delete_personal_data, unbind_account
from bot.binding.rules import active_binding
from bot.core.flow import Context, Outcome
from bot.core.state import Conversation, FlowStep
from bot.platform import idcard

FLOW = "account"


class AccountStep(FlowStep):
    CONFIRM_UNBIND = auto()
    CONFIRM_DELETE = auto()


def start_unbind(conv: Conversation, ctx: Context) -> Outcome:
    """Ask before unbinding."""
    binding = active_binding(ctx.services.db, ctx.services.account)
    if binding is None:
        return ctx.reply(conv, "account/not_bound")
    student = binding.student
    return ctx.reply(
        conv.at(FLOW, AccountStep.CONFIRM_UNBIND),
        "account/unbind_confirm",
        "1",
        "0",
        name=idcard.mask_name(student.name),
        student_no=idcard.mask_student_no(student.student_no),
    )


def start_delete(conv: Conversation, ctx: Context) -> Outcome:
    """Ask before deleting."""
    return ctx.reply(
        conv.at(FLOW, AccountStep.CONFIRM_DELETE),
        "account/delete_confirm",
        "1",
        "0",
        mini=_on_mini_program(ctx),
    )


def handle(conv: Conversation, ctx: Context) -> Outcome:
    """A confirmation: 1 does it, anything else asks again (0 is the menu, handled globally)."""
    if text.choice(ctx.msg.text, 1) != 1 and not text.is_yes(ctx.msg.text):
        return ctx.retry(conv, "account/confirm_again", "1", "0")
    s = ctx.services
    home = conv.home()
    if AccountStep(conv.step) is AccountStep.CONFIRM_UNBIND:
        if unbind_account(s) is None:
            return ctx.reply(home, "account/not_bound")
        return ctx.reply(home, "account/unbound")
    done = delete_personal_data(s)
    return ctx.reply(
        home,
        "account/deleted",
        mini=_on_mini_program(ctx),
        others=len(done.accounts) - 1,
        appeals=done.appeals,
        certificates=done.certificates,
    )


def _on_mini_program(ctx: Context) -> bool:
    """Mini-program accounts are other accounts than the Official Account's (another openid)."""
    return ctx.msg.channel in ("wxa", "alipay")
