"""The SMS-code step shared by every flow that needs the second factor (binding, a stale check
before showing a diploma): send a code, resend on 重发, check the six digits."""

from __future__ import annotations

import re

from bot import text
from bot.flows import menu
from bot.flows.base import Context, Outcome
from bot.messages import Effect
from bot.services import idcard
from bot.services.binding import phone_of
from bot.services.otp import Check
from bot.services.otp import subject as otp_subject
from bot.state import Conversation
from models import OtpEvent, OtpEventKind, Student

RESEND_WORDS = {"重发", "再发", "重新发送", "再发一次", "没收到", "收不到", "重发验证码"}


def code_digits(said: str) -> str | None:
    """The six digits of a code as typed or spoken: "１２３ ４５６", "验证码是123456", "幺二三四五六"."""
    token = text.number_token(said)
    m = re.fullmatch(r"\D*(\d{6})\D*", token)
    return m.group(1) if m else None


def send(conv: Conversation, ctx: Context, student: Student, purpose: str, template: str = "binding/code_sent") -> Outcome:
    """Send a code to the student's phone on file (or say why not, and how long to wait)."""
    s = ctx.services
    phone = phone_of(s.cipher, student)
    if not phone:
        return ctx.reply(conv.home(), "binding/no_phone")
    phone_index = s.cipher.index("phone", phone)
    issued = s.otp.issue(ctx.msg.user_tag, phone_index, _subject(purpose, student, phone_index))
    if issued.refusal is not None:
        wait = issued.wait
        return ctx.reply(conv, f"otp/{issued.refusal.value}", seconds=wait, minutes=max(1, (wait + 59) // 60))
    effect = Effect("send_otp_sms", {"student_id": student.id, "code": s.cipher.seal_text(issued.code), "purpose": purpose})
    return Outcome(conv, [ctx.say(template, phone=idcard.mask_phone(phone))], [effect])


def check(conv: Conversation, ctx: Context, student: Student, purpose: str) -> Outcome | None:
    """None when the message is the right code; otherwise the reply (resend, retry, wrong, locked)."""
    s = ctx.services
    said = text.clean(ctx.msg.text)
    if said in RESEND_WORDS:
        return send(conv, ctx, student, purpose)
    digits = code_digits(said)
    if digits is None:
        return ctx.retry(conv, "binding/code_format")
    phone = phone_of(s.cipher, student) or ""
    verdict = s.otp.verify(ctx.msg.user_tag, _subject(purpose, student, s.cipher.index("phone", phone)), digits)
    if verdict.check is Check.OK:
        s.db.add(OtpEvent(account_id=s.account.id, student_id=student.id, kind=OtpEventKind.VERIFIED.value, purpose=purpose))
        return None
    kind = OtpEventKind.LOCKED if verdict.check is Check.LOCKED else OtpEventKind.FAILED
    s.db.add(OtpEvent(account_id=s.account.id, student_id=student.id, kind=kind.value, purpose=purpose))
    if verdict.check is Check.WRONG:
        return ctx.reply(conv, "binding/code_wrong", left=verdict.tries_left)
    if verdict.check is Check.LOCKED:
        s.audit("otp_locked", student.id, result="locked")
        return menu.show(conv, ctx, prefix="otp/locked_now")
    return ctx.reply(conv, f"binding/code_{verdict.check.value}")


def _subject(purpose: str, student: Student, phone_index: str) -> str:
    return otp_subject(purpose, student.id, phone_index)
