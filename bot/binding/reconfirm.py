"""Periodic re-confirmation of a binding (the college asks for a yearly check): a binding whose last
SMS code check is older than GRADCERT_RECONFIRM_DAYS (default 365; 0 = off) must pass a fresh code
sent to the phone on file at its next sensitive action, and a mini-program's proven phone no longer
replaces that code. The graduate is told a week before (the upkeep's sweep)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from bot.core.effects import push_accounts
from bot.core.messages import Effect
from bot.platform.idcard import mask_name
from bot.platform.workdays import local
from models import Binding, BindingState, as_utc

NOTICE_BEFORE = timedelta(days=7)
SWEEP_BATCH = 500


def period(config: dict) -> timedelta | None:
    """The re-confirmation period, or None when it is switched off."""
    days = int(config.get("GRADCERT_RECONFIRM_DAYS") or 0)
    return timedelta(days=days) if days > 0 else None


def confirmed_at(binding: Binding) -> datetime:
    """When the binding last proved its phone (its SMS code at binding or since)."""
    return as_utc(binding.verified_at or binding.created_at)


def is_due(binding: Binding, now: datetime, config: dict) -> bool:
    """True when the binding must re-confirm with an SMS code before its next sensitive action."""
    every = period(config)
    return every is not None and confirmed_at(binding) + every <= now


def warn(s) -> int:
    """Tell graduates whose re-confirmation falls within a week (once per period); the number told."""
    every = period(s.config)
    if every is None:
        return 0
    now = s.now()
    last_check = func.coalesce(Binding.verified_at, Binding.created_at)
    due_soon = s.db.scalars(
        select(Binding)
        .where(
            Binding.state == BindingState.ACTIVE,
            last_check <= now - every + NOTICE_BEFORE,
            or_(Binding.reconfirm_warned_at.is_(None), Binding.reconfirm_warned_at < last_check),
        )
        .order_by(Binding.id)
        .limit(SWEEP_BATCH)
    ).all()
    for binding in due_soon:
        due = max(confirmed_at(binding) + every, now)
        text = s.book.render(
            "binding/reconfirm_soon",
            name=mask_name(binding.student.name),
            date=f"{local(due):%Y-%m-%d}",
        )
        s.effects.append(
            Effect(
                push_accounts,
                {"account_ids": [binding.account_id], "text": text},
                key=f"reconfirm:{binding.id}:{local(due):%Y%m%d}",
            )
        )
        binding.reconfirm_warned_at = now
    return len(due_soon)
