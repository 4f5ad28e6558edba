"""SMS codes for one student and purpose, outside the chat: send (or say why not) and check,
recording every outcome as an OtpEvent, exactly as the chat's code step does."""

from __future__ import annotations

from dataclasses import dataclass

from bot.messages import Effect
from bot.services.binding import phone_of
from bot.services.idcard import mask_phone
from bot.services.otp import Check, Refusal, Verdict, subject
from models import OtpEvent, OtpEventKind, Student


@dataclass(frozen=True)
class CodeSend:
    """What became of a request for a code. `phone_masked` is None when no phone is on file."""

    phone_masked: str | None
    refusal: Refusal | None = None
    wait: int = 0
    effect: Effect | None = None  # send_otp_sms, to run once after the commit


def send_code(s, student: Student, purpose: str) -> CodeSend:
    """Issue a code for the student's phone on file, within every OTP limit."""
    phone = phone_of(s.cipher, student)
    if not phone:
        return CodeSend(None)
    phone_index = s.cipher.index("phone", phone)
    issued = s.otp.issue(s.msg.user_tag, phone_index, subject(purpose, student.id, phone_index))
    if issued.refusal is not None:
        return CodeSend(mask_phone(phone), issued.refusal, issued.wait)
    payload = {"student_id": student.id, "code": s.cipher.seal_text(issued.code), "purpose": purpose}
    return CodeSend(mask_phone(phone), effect=Effect("send_otp_sms", payload))


def check_code(s, student: Student, purpose: str, digits: str) -> Verdict:
    """Check six digits; the outcome is recorded (and a lock audited)."""
    phone_index = s.cipher.index("phone", phone_of(s.cipher, student) or "")
    verdict = s.otp.verify(s.msg.user_tag, subject(purpose, student.id, phone_index), digits)
    kind = {Check.OK: OtpEventKind.VERIFIED, Check.LOCKED: OtpEventKind.LOCKED}.get(verdict.check, OtpEventKind.FAILED)
    s.db.add(OtpEvent(account_id=s.account.id, student_id=student.id, kind=kind.value, purpose=purpose))
    if verdict.check is Check.LOCKED:
        s.audit("otp_locked", student.id, result="locked")
    return verdict
