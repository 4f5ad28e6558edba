"""删除我的信息 for a whole person, and the retention periods the upkeep sweep enforces (PIPL).

Whose data goes: the person is the account that asks, the accounts of the same WeChat user
(same unionid: the Official Account and the mini-program), and the accounts bound to the same
graduate (each proved the graduate's phone by SMS, so they are the graduate's own). Every one of
those accounts is unbound, its consents withdrawn, its code events dropped, the proxies it holds
ended, its Redis data forgotten and its openid replaced by a random pseudonym. For the graduate:
the proxies granted for them end (the proxies are told), their tickets are closed (staff see why
on the timeline) and stripped of personal fields and photos, their certificates are closed.

What stays, as the reply says: the audit trail, with the subject replaced by a keyed pseudonym
and the accounts pseudonymous, for `keep_audit_days`; the certificate ledger's hashes (a chain
that proves issued certificates; it holds digests, not names). The registrar's own record of the
student is the college's, not something the person gave us, and stays.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from bot.appeals.rules import record_move
from bot.core.effects import push_accounts
from bot.core.messages import Effect
from bot.diploma import certificates
from bot.platform.attachment_store import StoreError
from bot.platform.idcard import mask_name
from bot.proxies import rules as proxies
from models import (
    Account,
    AlipayNotification,
    Appeal,
    AppealEvent,
    AppealStatus,
    Attachment,
    AuditEvent,
    Binding,
    BindingState,
    Certificate,
    Consent,
    OtpEvent,
    Proxy,
)

log = logging.getLogger(__name__)
ERASED = "（已删除）"
CLOSED_ON_ERASURE = "申请人删除了个人信息，工单随之关闭，内容已清除。"


@dataclass
class Erasure:
    """What was done, for the reply and the audit row."""

    accounts: list[Account] = field(default_factory=list)
    student_ids: set[int] = field(default_factory=set)
    appeals: int = 0
    certificates: int = 0
    proxies: int = 0
    effects: list[Effect] = field(default_factory=list)


def accounts_of_person(db, account: Account) -> list[Account]:
    """The account, those of the same WeChat user, and those bound to the same graduate."""
    found = {account.id: account}
    if account.unionid:
        for other in db.scalars(select(Account).where(Account.unionid == account.unionid)):
            found[other.id] = other
    students = select(Binding.student_id).where(
        Binding.account_id.in_(list(found)), Binding.state == BindingState.ACTIVE
    )
    for other in db.scalars(
        select(Account)
        .join(Binding, Binding.account_id == Account.id)
        .where(Binding.student_id.in_(students), Binding.state == BindingState.ACTIVE)
    ):
        found[other.id] = other
    return sorted(found.values(), key=lambda a: a.id)


def erase_person(s, account: Account) -> Erasure:
    """Everything of the person `account` belongs to (module docstring), in the unit `s`."""
    db, now = s.db, s.now()
    done = Erasure(accounts=accounts_of_person(db, account))
    ids = [a.id for a in done.accounts]
    for binding in db.scalars(
        select(Binding).where(Binding.account_id.in_(ids), Binding.state == BindingState.ACTIVE)
    ):
        done.student_ids.add(binding.student_id)
    students = sorted(done.student_ids)
    # proxies the person holds, and those granted for the graduate (whose proxies are told)
    held_or_granted = or_(Proxy.proxy_account_id.in_(ids), Proxy.student_id.in_(students))
    for proxy in db.scalars(
        select(Proxy)
        .where(held_or_granted, Proxy.state.in_(proxies.LIVE))
        .with_for_update(of=Proxy)
    ):
        by_graduate = proxy.student_id in done.student_ids
        proxies.revoke(proxy, "graduate" if by_graduate else "proxy", now)
        why = "graduate deleted their data" if by_graduate else "proxy deleted their data"
        s.audit("proxy_revoke", proxy.student_id, detail=f"proxy:{proxy.id} ({why})")
        done.proxies += 1
        if proxy.proxy_account_id not in ids:
            text = s.book.render("proxy/revoked_for_proxy", name=mask_name(proxy.student.name))
            done.effects.append(
                Effect(
                    push_accounts,
                    {"account_ids": [proxy.proxy_account_id], "text": text},
                    key=f"erased:{proxy.id}",
                )
            )
    db.execute(
        update(Consent)
        .where(Consent.account_id.in_(ids), Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
    )
    db.execute(delete(OtpEvent).where(OtpEvent.account_id.in_(ids)))
    # no row links the (pseudonymised) accounts to the graduate any more
    db.execute(delete(Binding).where(Binding.account_id.in_(ids)))
    # tickets filed by the person or about the graduate: closed first, then emptied
    for appeal in db.scalars(
        select(Appeal)
        .where(
            or_(
                Appeal.account_id.in_(ids),
                Appeal.student_id.in_(students),
                Appeal.acting_for_student_id.in_(students),
            )
        )
        .with_for_update(of=Appeal)
    ):
        if appeal.status != AppealStatus.CLOSED:
            record_move(db, appeal, AppealStatus.CLOSED, now, note=CLOSED_ON_ERASURE)
        erase_appeal(s, appeal)
        done.appeals += 1
    for cert in db.scalars(
        select(Certificate).where(
            Certificate.student_id.in_(students),
            Certificate.closed_at.is_(None),
            Certificate.revoked_at.is_(None),
        )
    ):
        certificates.close(db, cert, now)
        done.certificates += 1
    # the audit trail stays, its subject pseudonymised
    for student_id in students:
        db.execute(
            update(AuditEvent)
            .where(AuditEvent.subject_student_id == student_id)
            .values(subject_student_id=None, subject_pseudonym=pseudonym(s, student_id))
        )
    return done


def pseudonymise_accounts(accounts: list[Account]) -> None:
    """Replace each account's openid / user id with a random value nobody can map back."""
    for account in accounts:
        account.user_key = "erased-" + secrets.token_hex(16)
        account.unionid = None


def pseudonym(s, student_id: int) -> str:
    """A keyed pseudonym of a student in the audit trail (the blind-index key: stable, so one
    person's rows still read as one person's, and not reversible without the key)."""
    return s.cipher.index("audit-subject", str(student_id))[:32]


def erase_appeal(s, appeal: Appeal) -> None:
    """A ticket without its personal fields, notes and photos, and no longer linked to the student;
    its number, category, status and dates stay (the college's statistics)."""
    appeal.description = ERASED
    appeal.student_id = appeal.acting_for_student_id = None
    appeal.claimed_name = appeal.claimed_student_no = None
    appeal.claimed_id_enc = appeal.contact_phone_enc = None
    appeal.urgent_reason = None
    appeal.resolution = ERASED if appeal.resolution else None
    s.db.execute(
        update(AppealEvent)
        .where(
            AppealEvent.appeal_id == appeal.id,
            AppealEvent.note.is_not(None),
            AppealEvent.note != CLOSED_ON_ERASURE,
        )
        .values(note=ERASED)
    )
    for attachment in s.db.scalars(select(Attachment).where(Attachment.appeal_id == appeal.id)):
        _drop_file(s, attachment)
        s.db.delete(attachment)


def _drop_file(s, attachment: Attachment) -> None:
    if not attachment.storage_key:
        return
    try:
        s.domain.attachments.delete(attachment.storage_key)
    except StoreError as exc:  # the row goes anyway; the file is orphaned, and logged
        log.warning("attachment %s not deleted from the store: %s", attachment.id, exc)


def enforce_retention(s) -> dict[str, int]:
    """The retention periods of bot.core.college (the sweep): closed tickets emptied, old audit
    rows and Alipay notifications deleted; returns how many of each."""
    college, now = s.domain.college, s.now()
    old_closed = now - timedelta(days=college.keep_closed_appeals_days)
    emptied = 0
    for appeal in s.db.scalars(
        select(Appeal)
        .where(
            Appeal.status == AppealStatus.CLOSED,
            Appeal.status_changed_at < old_closed,
            Appeal.description != ERASED,
        )
        .with_for_update(of=Appeal, skip_locked=True)
    ):
        erase_appeal(s, appeal)
        emptied += 1
    audit = s.db.execute(
        delete(AuditEvent).where(AuditEvent.at < now - timedelta(days=college.keep_audit_days))
    ).rowcount
    alipay = s.db.execute(
        delete(AlipayNotification).where(
            AlipayNotification.received_at
            < now - timedelta(days=college.keep_alipay_notifications_days)
        )
    ).rowcount
    return {"appeals": emptied, "audit": audit, "alipay": alipay}
