"""Matching people to registrar records, and binding accounts to students."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.services import proxies
from bot.services.crypto import PiiCipher
from models import (
    Account,
    Binding,
    BindingState,
    Consent,
    OtpEvent,
    Proxy,
    Student,
    utcnow,
)

if TYPE_CHECKING:
    from bot.services import Services

CONSENT_VERSION = "2026-11"


def normalise_name(name: str) -> str:
    """Names compare after NFKC, without spaces, middle dots unified, Latin letters upper-cased."""
    name = unicodedata.normalize("NFKC", name).replace(" ", "")
    for dot in ("•", "・", ".", "‧", "∙"):
        name = name.replace(dot, "·")
    return name.upper()


def find_student(db: Session, cipher: PiiCipher, name: str, id_number: str, student_no: str | None) -> Student | None:
    """The one student with this name and ID number (and student number, when given)."""
    candidates = db.scalars(select(Student).where(Student.id_number_index == cipher.index("id", id_number))).all()
    wanted = normalise_name(name)
    matches = [s for s in candidates if normalise_name(s.name) == wanted]
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
        select(Binding).where(Binding.account_id == account.id, Binding.state == BindingState.ACTIVE.value)
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
        _remove(current, "rebound", now)
    others = db.scalars(
        select(Binding).where(
            Binding.student_id == student.id,
            Binding.channel == account.channel,
            Binding.state == BindingState.ACTIVE.value,
        )
    ).all()
    for other in others:
        _remove(other, "taken_over", now)
    db.flush()  # free the partial unique indexes before the new row
    binding = Binding(account_id=account.id, student_id=student.id, channel=account.channel, verified_at=now)
    db.add(binding)
    db.flush()
    return BindResult(binding, already=False, displaced=[o.account_id for o in others])


def unbind(db: Session, account: Account, reason: str = "user") -> Binding | None:
    """Remove the account's active binding; returns it (or None when there was none)."""
    current = active_binding(db, account)
    if current is not None:
        _remove(current, reason, utcnow())
    return current


def delete_personal_data(s: Services) -> None:
    """删除我的信息, in the caller's transaction: unbind, end the proxies this account holds (their
    consent goes with it), withdraw consents, drop code events; the audit trail stays. The caller
    then runs the `forget_user` effect for what is in Redis."""
    db, account, now = s.db, s.account, s.now()
    removed = unbind(db, account, "deleted")
    held = select(Proxy).where(Proxy.proxy_account_id == account.id, Proxy.state.in_(proxies.LIVE))
    for proxy in db.scalars(held.with_for_update(of=Proxy)):
        proxies.revoke(proxy, "proxy", now)
        s.audit("proxy_revoke", proxy.student_id, detail=f"proxy:{proxy.id} (proxy deleted their data)")
    db.execute(
        update(Consent).where(Consent.account_id == account.id, Consent.withdrawn_at.is_(None)).values(withdrawn_at=now)
    )
    db.execute(OtpEvent.__table__.delete().where(OtpEvent.account_id == account.id))
    account.unionid = None
    s.audit("delete_personal_data", removed.student_id if removed else None, detail=f"via {account.channel}")


def record_consent(db: Session, account: Account, notice: str = "binding") -> Consent:
    """The account agreed to the current version of a notice."""
    consent = Consent(account_id=account.id, notice=notice, notice_version=CONSENT_VERSION, channel=account.channel)
    db.add(consent)
    return consent


def _remove(binding: Binding, reason: str, now) -> None:
    binding.state = BindingState.REMOVED.value
    binding.removed_at = now
    binding.removed_reason = reason
