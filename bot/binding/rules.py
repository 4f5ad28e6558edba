"""Binding rules, the one home for every surface (chat script, mini-program API): matching a
claimed identity to one registrar record (with the per-account mismatch limit, shared with proxy
requests so that nobody can test whether someone studied here), whether this account may bind it
(`claim_identity`), consent, the SMS second factor (send and check, every outcome recorded), the
phone shortcut, and binding itself. How each result is worded is bot.binding.refusals."""

from __future__ import annotations

import hmac
import logging
import unicodedata
from dataclasses import dataclass, field
from enum import Enum

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import keys
from bot.core.messages import Effect, Reply
from bot.platform import counters
from bot.platform.crypto import PiiCipher
from bot.platform.idcard import mask_name, mask_phone, mask_student_no
from bot.platform.otp import CODE_TTL, OWN, PROXY, Budget, Check, Refusal, Verdict, subject
from bot.platform.ratelimit import RateLimit
from bot.platform.sms import SmsError
from models import (
    Account,
    Binding,
    BindingState,
    Consent,
    OtpEvent,
    OtpEventKind,
    Student,
    utcnow,
)

log = logging.getLogger(__name__)

CONSENT_VERSION = "2026-11"


def normalise_name(name: str) -> str:
    """Names compare after NFKC, without spaces, middle dots unified, Latin letters upper-cased."""
    name = unicodedata.normalize("NFKC", name).replace(" ", "")
    for dot in ("•", "・", ".", "‧", "∙", "．"):
        name = name.replace(dot, "·")
    return name.upper()


def same_name(given: str, registered: str) -> bool:
    """The registrar's name, as typed or said: a name without its middle dot (as voice input
    gives 阿不都热合曼) is the dotted 阿不都·热合曼."""
    given, registered = normalise_name(given), normalise_name(registered)
    return given == registered or (
        "·" not in given and "·" in registered and given == registered.replace("·", "")
    )


def find_student(
    db: Session, cipher: PiiCipher, name: str, id_number: str, student_no: str | None
) -> Student | None:
    """The one student with this name and ID number (and student number, when given)."""
    candidates = db.scalars(
        select(Student).where(Student.id_number_index == cipher.index("id", id_number))
    ).all()
    matches = [s for s in candidates if same_name(name, s.name)]
    if student_no:
        matches = [s for s in matches if s.student_no.upper() == student_no.upper()]
    return matches[0] if len(matches) == 1 else None


def phone_of(cipher: PiiCipher, student: Student) -> str | None:
    """The registrar's phone for `student`, decrypted."""
    if student.phone_enc is None:
        return None
    return cipher.open(student.phone_enc, student.pii_key_version, b"phone")


def active_binding(db: Session, account: Account) -> Binding | None:
    """The account's active binding, if any."""
    return db.scalar(
        select(Binding).where(
            Binding.account_id == account.id, Binding.state == BindingState.ACTIVE
        )
    )


@dataclass
class BindResult:
    binding: Binding
    already: bool  # the account was already bound to this student
    displaced: list[int]  # accounts that lost this student (same channel)


def bind(db: Session, account: Account, student: Student) -> BindResult:
    """Bind `account` to `student`, unbinding whichever account of the channel had it."""
    now = utcnow()
    current = active_binding(db, account)
    if current is not None and current.student_id == student.id:
        current.verified_at = now
        return BindResult(current, already=True, displaced=[])
    if current is not None:
        end_binding(current, "rebound", now)
    others = db.scalars(
        select(Binding).where(
            Binding.student_id == student.id,
            Binding.channel == account.channel,
            Binding.state == BindingState.ACTIVE,
        )
    ).all()
    for other in others:
        end_binding(other, "taken_over", now)
    db.flush()  # free the partial unique indexes before the new row
    binding = Binding(
        account_id=account.id, student_id=student.id, channel=account.channel, verified_at=now
    )
    db.add(binding)
    db.flush()
    return BindResult(binding, already=False, displaced=[o.account_id for o in others])


def record_consent(db: Session, account: Account, notice: str = "binding") -> Consent:
    """The account agreed to the current version of a notice."""
    consent = Consent(
        account_id=account.id,
        notice=notice,
        notice_version=CONSENT_VERSION,
        channel=account.channel,
    )
    db.add(consent)
    return consent


def end_binding(binding: Binding, reason: str, now) -> None:
    """Mark a binding removed (rebound, taken over, unbound, deleted)."""
    binding.state = BindingState.REMOVED
    binding.removed_at = now
    binding.removed_reason = reason


# -- the mismatch limit ----------------------------------------------------------------------
PER_HOUR = 5


def _mismatch_key(user_tag: str) -> str:
    return keys.mismatch(user_tag)


def mismatch_wait(redis: Redis, user_tag: str) -> int:
    """Seconds until this account may try to match again (0: now)."""
    return RateLimit(redis, PER_HOUR, 3600).retry_after(_mismatch_key(user_tag))


def note_mismatch(redis: Redis, user_tag: str) -> None:
    """Count one failed match."""
    RateLimit(redis, PER_HOUR, 3600).hit(_mismatch_key(user_tag))


# -- matching and binding --------------------------------------------------------------------
@dataclass(frozen=True)
class Match:
    """The student found for a claimed identity; `wait` > 0 when the account must wait first."""

    student: Student | None = None
    wait: int = 0


@dataclass(frozen=True)
class Bound:
    """The binding made (or confirmed) and the effects to run after the commit."""

    result: BindResult
    effects: list[Effect] = field(default_factory=list)


def match_identity(
    s, name: str, id_number: str, student_no: str | None, action: str = "bind_match"
) -> Match:
    """The one student with these details; a miss counts against the account (5 an hour). Audited
    as `action` (bind_match, proxy_match)."""
    counters.restore(s.db, s.redis, _mismatch_key(s.msg.user_tag))  # after a Redis restart
    wait = mismatch_wait(s.redis, s.msg.user_tag)
    if wait:
        return Match(wait=wait)
    student = find_student(s.db, s.cipher, name, id_number, student_no)
    if student is None:
        note_mismatch(s.redis, s.msg.user_tag)
        counters.save(s.db, s.redis, "mismatch", _mismatch_key(s.msg.user_tag))
        s.audit(action, result="no_match")
        return Match()
    s.audit(action, student.id, result="matched")
    return Match(student)


class ClaimKind(Enum):
    """What a claimed identity comes to for the account that claims it."""

    TOO_MANY = "too_many_mismatches"  # wait first (`Claim.wait` seconds)
    NO_MATCH = "identity_mismatch"  # never says which detail was wrong
    ALREADY_SAME = "already_same"  # the account is bound to this student already
    BOUND_TO_OTHER = "bound_to_other"  # the account is bound to someone else: unbind first
    MATCHED = "matched"  # go on to the second factor


@dataclass(frozen=True)
class Claim:
    """The decision on a claimed identity: `student` when one matched, `binding` the account's own."""

    kind: ClaimKind
    student: Student | None = None
    binding: Binding | None = None
    wait: int = 0


def claim_identity(s, name: str, id_number: str, student_no: str | None) -> Claim:
    """May this account bind the identity it claims: the one decision behind the chat and the API."""
    found = match_identity(s, name, id_number, student_no)
    if found.wait:
        return Claim(ClaimKind.TOO_MANY, wait=found.wait)
    if found.student is None:
        return Claim(ClaimKind.NO_MATCH)
    current = active_binding(s.db, s.account)
    if current is not None and current.student_id == found.student.id:
        return Claim(ClaimKind.ALREADY_SAME, found.student, current)
    if current is not None:
        return Claim(ClaimKind.BOUND_TO_OTHER, found.student, current)
    return Claim(ClaimKind.MATCHED, found.student)


def phone_matches(student: Student, phone_index: str | None) -> bool:
    """True when a phone proven by the channel is the registrar's phone for `student`.

    Compared through the blind index (constant time): a proven phone may replace the SMS code only
    here; any other phone still needs the code.
    """
    if not phone_index or not student.phone_index:
        return False
    return hmac.compare_digest(student.phone_index, phone_index)


def complete_binding(s, student: Student) -> Bound:
    """Bind the account after its second factor checked out; tells displaced accounts. Audited."""
    result = bind(s.db, s.account, student)
    s.audit("bind", student.id, result="already" if result.already else "bound")
    effects = []
    if result.displaced:
        effects.append(
            Effect(notify_displaced, {"account_ids": result.displaced, "student_id": student.id})
        )
    return Bound(result, effects)


def has_consent(db: Session, account: Account) -> bool:
    """The account agreed to the current binding notice and has not withdrawn."""
    return (
        db.scalar(
            select(Consent.id).where(
                Consent.account_id == account.id,
                Consent.notice == "binding",
                Consent.notice_version == CONSENT_VERSION,
                Consent.withdrawn_at.is_(None),
            )
        )
        is not None
    )


# -- the SMS second factor -------------------------------------------------------------------
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
    counters.restore(s.db, s.redis, *_otp_guard_keys(s))
    issued = s.otp.issue(
        s.msg.user_tag, phone_index, subject(purpose, student.id, phone_index), _budget(purpose)
    )
    if issued.refusal is not None:
        return CodeSend(mask_phone(phone), issued.refusal, issued.wait)
    payload = {
        "student_id": student.id,
        "code": s.cipher.seal_text(issued.code),
        "purpose": purpose,
    }
    return CodeSend(mask_phone(phone), effect=Effect(send_otp_sms, payload))


def _otp_guard_keys(s) -> tuple[str, str]:
    """The account's count of wrong codes and its lock: kept in SQL too (bot.platform.counters)."""
    return keys.otp(s.msg.user_tag, "fails"), keys.otp(s.msg.user_tag, "lock")


def _budget(purpose: str) -> Budget:
    """A proxy's request spends its own budget, never the graduate's (bot.platform.otp)."""
    return PROXY if purpose == "proxy" else OWN


def check_code(s, student: Student, purpose: str, digits: str) -> Verdict:
    """Check six digits; the outcome is recorded (and a lock audited)."""
    phone_index = s.cipher.index("phone", phone_of(s.cipher, student) or "")
    counters.restore(s.db, s.redis, *_otp_guard_keys(s))
    verdict = s.otp.verify(s.msg.user_tag, subject(purpose, student.id, phone_index), digits)
    counters.save(s.db, s.redis, "otp", *_otp_guard_keys(s))
    kind = {Check.OK: OtpEventKind.VERIFIED, Check.LOCKED: OtpEventKind.LOCKED}.get(
        verdict.check, OtpEventKind.FAILED
    )
    s.db.add(OtpEvent(account_id=s.account.id, student_id=student.id, kind=kind, purpose=purpose))
    if verdict.check is Check.LOCKED:
        s.audit("otp_locked", student.id, result="locked")
    return verdict


# -- effects of binding (after the commit) ----------------------------------------------------


def send_otp_sms(services, payload: dict) -> None:
    """Send a code through the SMS provider; a failed send is refunded and the user told."""
    student = services.db.get(Student, payload["student_id"])
    phone = phone_of(services.cipher, student)
    code = services.cipher.open_text(payload["code"])
    event = OtpEvent(
        account_id=services.account.id, student_id=student.id, purpose=payload["purpose"]
    )
    try:
        services.sms.send_code(phone, code, CODE_TTL // 60, for_proxy=payload["purpose"] == "proxy")
        event.kind = OtpEventKind.SENT
    except SmsError as exc:
        log.warning("SMS send failed (%s); refunded", exc)
        event.kind = OtpEventKind.SEND_FAILED
        services.otp.refund(
            services.msg.user_tag,
            services.cipher.index("phone", phone),
            _budget(payload["purpose"]),
        )
        msg = services.msg
        services.push(
            msg.channel, msg.app_id, msg.user_key, [Reply(services.book.render("sms/failed"))]
        )
    services.db.add(event)


def notify_displaced(services, payload: dict) -> None:
    """Tell accounts that lost a student to a newer binding."""
    student = services.db.get(Student, payload["student_id"])
    text = services.book.render(
        "binding/displaced",
        name=mask_name(student.name),
        student_no=mask_student_no(student.student_no),
    )
    for account_id in payload["account_ids"]:
        account = services.db.get(Account, account_id)
        if account is not None:
            services.push(account.channel, account.app_id, account.user_key, [Reply(text)])
