"""What a person does to their own account, whatever the surface: unbind, and 删除我的信息."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.binding.rules import active_binding, end_binding
from bot.core.effects import forget_user
from bot.core.messages import Effect
from bot.proxies import rules as proxies
from models import Account, Binding, Consent, OtpEvent, Proxy, utcnow

if TYPE_CHECKING:
    from bot.core.unit import Services


def unbind(db: Session, account: Account, reason: str = "user") -> Binding | None:
    """Remove the account's active binding; returns it (or None when there was none)."""
    current = active_binding(db, account)
    if current is not None:
        end_binding(current, reason, utcnow())
    return current


def unbind_account(s: Services) -> Binding | None:
    """解绑 on any surface: remove the account's binding and audit it; None when it had none."""
    removed = unbind(s.db, s.account)
    if removed is not None:
        s.audit("unbind", removed.student_id, detail=f"via {s.account.channel}")
    return removed


def delete_personal_data(s: Services) -> None:
    """删除我的信息, in the unit of work `s`: unbind, end the proxies this account holds (their
    consent goes with it), withdraw consents, drop code events; the audit trail stays. What Redis
    holds of the user goes by the `forget_user` effect after the commit."""
    db, account, now = s.db, s.account, s.now()
    removed = unbind(db, account, "deleted")
    held = select(Proxy).where(Proxy.proxy_account_id == account.id, Proxy.state.in_(proxies.LIVE))
    for proxy in db.scalars(held.with_for_update(of=Proxy)):
        proxies.revoke(proxy, "proxy", now)
        s.audit(
            "proxy_revoke", proxy.student_id, detail=f"proxy:{proxy.id} (proxy deleted their data)"
        )
    db.execute(
        update(Consent)
        .where(Consent.account_id == account.id, Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
    )
    db.execute(OtpEvent.__table__.delete().where(OtpEvent.account_id == account.id))
    account.unionid = None
    s.audit(
        "delete_personal_data",
        removed.student_id if removed else None,
        detail=f"via {account.channel}",
    )
    s.effects.append(Effect(forget_user, queued=False))
