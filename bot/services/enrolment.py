"""Binding rules that the chat and the mini-program API share: matching a claimed identity to one
registrar record (with the per-account mismatch limit), the phone shortcut, and binding once the
second factor checked out."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Effect
from bot.services import mismatch
from bot.services.binding import CONSENT_VERSION, BindResult, bind, find_student
from models import Account, Consent, Student


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


def match_identity(s, name: str, id_number: str, student_no: str | None) -> Match:
    """The one student with these details; a miss counts against the account (5 an hour). Audited."""
    wait = mismatch.wait(s.redis, s.msg.user_tag)
    if wait:
        return Match(wait=wait)
    student = find_student(s.db, s.cipher, name, id_number, student_no)
    if student is None:
        mismatch.note(s.redis, s.msg.user_tag)
        s.audit("bind_match", result="no_match")
        return Match()
    s.audit("bind_match", student.id, result="matched")
    return Match(student)


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
        effects.append(Effect("notify_displaced", {"account_ids": result.displaced, "student_id": student.id}))
    return Bound(result, effects)


def has_consent(db: Session, account: Account) -> bool:
    """The account agreed to the current binding notice and has not withdrawn."""
    return db.scalar(
        select(Consent.id).where(
            Consent.account_id == account.id,
            Consent.notice == "binding",
            Consent.notice_version == CONSENT_VERSION,
            Consent.withdrawn_at.is_(None),
        )
    ) is not None
