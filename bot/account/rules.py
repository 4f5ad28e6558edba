"""What a person does to their own account, whatever the surface: unbind, and 删除我的信息."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.account.erasure import Erasure, erase_person, pseudonym, pseudonymise_accounts
from bot.binding.rules import active_binding, end_binding
from bot.core.accounts import audit
from bot.core.effects import forget_user
from bot.core.messages import Effect, user_tag
from models import Account, Binding, utcnow

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


def delete_personal_data(s: Services) -> Erasure:
    """删除我的信息, in the unit of work `s`, for every account of the person (bot.account.erasure):
    bindings, consents, codes, proxies held and granted, tickets emptied, certificates closed, the
    accounts pseudonymised; the audit trail stays with its subject pseudonymised. What Redis holds
    of each account goes by the `forget_user` effect after the commit."""
    account = s.account
    done = erase_person(s, account)
    others = [
        user_tag(a.channel, a.app_id, a.user_key) for a in done.accounts if a.id != account.id
    ]
    row = audit(
        s.db,
        account.id,
        "delete_personal_data",
        None,
        "ok",
        s.msg.msg_id,
        f"via {account.channel}: {len(done.accounts)} accounts, {done.appeals} tickets, "
        f"{done.certificates} certificates, {done.proxies} proxies",
    )
    if done.student_ids:
        row.subject_pseudonym = pseudonym(s, min(done.student_ids))
    pseudonymise_accounts(done.accounts)
    s.effects.extend(done.effects)
    s.effects.append(Effect(forget_user, {"tags": others}, queued=False))
    return done
