"""The SMS-code step shared by every flow that needs the second factor (binding, a stale check
before showing a diploma, a proxy's confirmation): the chat's words around bot.binding.rules."""

from __future__ import annotations

import re

from bot import understand as text
from bot.account import menu
from bot.binding.rules import check_code, send_code
from bot.core.flow import Context, Outcome
from bot.core.state import Conversation
from bot.platform.otp import Check
from models import Student

RESEND_WORDS = {"重发", "再发", "重新发送", "再发一次", "没收到", "收不到", "重发验证码"}


def code_digits(said: str) -> str | None:
    """The six digits of a code as typed or spoken: "１２３ ４５６", "验证码是123456", "幺二三四五六"."""
    token = text.number_token(said)
    m = re.fullmatch(r"\D*(\d{6})\D*", token)
    return m.group(1) if m else None


def send(conv: Conversation, ctx: Context, student: Student, purpose: str, template: str = "binding/code_sent") -> Outcome:
    """Send a code to the student's phone on file (or say why not, and how long to wait)."""
    sent = send_code(ctx.services, student, purpose)
    if sent.phone_masked is None:
        return ctx.reply(conv.home(), "binding/no_phone")
    if sent.refusal is not None:
        wait = sent.wait
        return ctx.reply(conv, f"otp/{sent.refusal.value}", seconds=wait, minutes=max(1, (wait + 59) // 60))
    return Outcome(conv, [ctx.say(template, phone=sent.phone_masked)], [sent.effect])


def check(conv: Conversation, ctx: Context, student: Student, purpose: str) -> Outcome | None:
    """None when the message is the right code; otherwise the reply (resend, retry, wrong, locked)."""
    said = text.clean(ctx.msg.text)
    if said in RESEND_WORDS:
        return send(conv, ctx, student, purpose)
    digits = code_digits(said)
    if digits is None:
        return ctx.retry(conv, "binding/code_format")
    verdict = check_code(ctx.services, student, purpose, digits)
    if verdict.check is Check.OK:
        return None
    if verdict.check is Check.WRONG:
        return ctx.reply(conv, "binding/code_wrong", left=verdict.tries_left)
    if verdict.check is Check.LOCKED:
        return menu.show(conv, ctx, prefix="otp/locked_now")
    return ctx.reply(conv, f"binding/code_{verdict.check.value}")
