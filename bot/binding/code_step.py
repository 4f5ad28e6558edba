"""The SMS-code step shared by every flow that needs the second factor (binding, a stale check
before showing a diploma, a proxy's confirmation): the chat's words around bot.binding.rules."""

from __future__ import annotations

from bot import understand as text
from bot.account import menu
from bot.binding.refusals import BAD_CODE, code_not_sent, code_refused
from bot.binding.rules import check_code, send_code
from bot.core.flow import Context, Outcome
from bot.core.state import Conversation
from bot.platform.otp import Check
from models import Student

SENT = {"proxy": "proxy/code_sent", "lookup": "diploma/code_sent"}  # what a resend says
RESEND_WORDS = {"重发", "再发", "重新发送", "再发一次", "没收到", "收不到", "重发验证码"}


def send(
    conv: Conversation,
    ctx: Context,
    student: Student,
    purpose: str,
    template: str | None = None,
    refused_at: Conversation | None = None,
) -> Outcome:
    """Send a code to the student's phone on file (or say why not, and how long to wait, at
    `refused_at`: by default where the code would have been awaited)."""
    sent = send_code(ctx.services, student, purpose)
    if sent.phone_masked is None or sent.refusal is not None:
        refused = code_not_sent(sent)
        where = refused_at or conv
        if not sent.phone_masked:
            where = conv.home()  # no phone on file: nothing to wait for
        return ctx.reply(where, refused.template, **refused.values)
    template = template or SENT.get(purpose, "binding/code_sent")
    return Outcome(conv, [ctx.say(template, phone=sent.phone_masked)], [sent.effect])


def check(conv: Conversation, ctx: Context, student: Student, purpose: str) -> Outcome | None:
    """None when the message is the right code; otherwise the reply (resend, retry, wrong, locked)."""
    said = text.clean(ctx.msg.text)
    if said in RESEND_WORDS:
        return send(conv, ctx, student, purpose)
    digits = text.read_code(said)
    if digits is None:
        return ctx.retry(conv, BAD_CODE.template)
    verdict = check_code(ctx.services, student, purpose, digits)
    if verdict.check is Check.OK:
        return None
    refused = code_refused(verdict)
    if verdict.check is Check.LOCKED:
        return menu.show(conv, ctx, prefix=refused.template)
    return ctx.reply(conv, refused.template, **refused.values)
