"""Accounts (who is writing to us) and the audit trail of what they did."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.messages import Inbound
from models import Account, AuditEvent, as_utc, utcnow


def account_for(db: Session, msg: Inbound) -> Account:
    """The account of the sender of `msg`, created on first contact; touches last_seen_at."""
    account = db.scalar(
        select(Account).where(
            Account.channel == msg.channel,
            Account.app_id == msg.app_id,
            Account.user_key == msg.user_key,
        )
    )
    if account is None:
        account = Account(channel=msg.channel, app_id=msg.app_id, user_key=msg.user_key)
        db.add(account)
        db.flush()
    now = utcnow()
    if account.last_seen_at is None or as_utc(account.last_seen_at) < now - timedelta(hours=1):
        account.last_seen_at = now  # hourly resolution: no write on every message
    return account


def audit(
    db: Session,
    actor_account_id: int | None,
    action: str,
    subject_student_id: int | None = None,
    result: str = "ok",
    request_id: str | None = None,
    detail: str | None = None,
    actor_staff: str | None = None,
) -> AuditEvent:
    """Append one audit row to the current transaction."""
    event = AuditEvent(
        actor_account_id=actor_account_id,
        actor_staff=actor_staff,
        subject_student_id=subject_student_id,
        action=action,
        result=result,
        request_id=request_id,
        detail=detail,
    )
    db.add(event)
    return event
