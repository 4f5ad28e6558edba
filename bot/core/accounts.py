"""Accounts (who is writing to us) and the audit trail of what they did."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, event, inspect, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.messages import Inbound, user_tag
from bot.core.state import Profile
from bot.platform.idcard import mask_name
from models import Account, AuditEvent, Binding, BindingState, Student, as_utc, utcnow

SEEN_EVERY = timedelta(hours=1)  # last_seen_at has hourly resolution: no write on every message
PENDING = "gradcert.profiles_to_forget"  # Session.info: user tags whose profiles changed
CHANGED = "gradcert.profiles_forgotten"  # Session.info: a commit invalidated cached profiles
log = logging.getLogger(__name__)


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
    if account.last_seen_at is None or as_utc(account.last_seen_at) < now - SEEN_EVERY:
        account.last_seen_at = now
    return account


# Built once (their compiled form is cached): the profile by sender, and a new account.
_ACCOUNTS = Account.__table__
_PROFILE = (
    select(_ACCOUNTS.c.id, _ACCOUNTS.c.last_seen_at, Student.__table__.c.name)
    .select_from(_ACCOUNTS)
    .outerjoin(
        Binding.__table__,
        (Binding.__table__.c.account_id == _ACCOUNTS.c.id)
        & (Binding.__table__.c.state == BindingState.ACTIVE.value),
    )
    .outerjoin(Student.__table__, Student.__table__.c.id == Binding.__table__.c.student_id)
    .where(
        _ACCOUNTS.c.channel == bindparam("channel"),
        _ACCOUNTS.c.app_id == bindparam("app_id"),
        _ACCOUNTS.c.user_key == bindparam("user_key"),
    )
)
_NEW_ACCOUNT = _ACCOUNTS.insert().returning(_ACCOUNTS.c.id)
_SEEN = (
    _ACCOUNTS.update()
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(last_seen_at=bindparam("now"))
)


def profile_of(db: Session, msg: Inbound) -> tuple[Profile, datetime | None]:
    """The sender's profile (account id, masked name of the bound graduate) in one Core query,
    creating the account on first contact; touches last_seen_at (hourly). Also when the account
    was last seen before this message (None: it is new)."""
    sender = {"channel": msg.channel, "app_id": msg.app_id, "user_key": msg.user_key}
    row = db.execute(_PROFILE, sender).first()
    if row is None:  # first contact: one INSERT (the user's lock keeps it the only one)
        return Profile(db.execute(_NEW_ACCOUNT, sender).scalar_one()), None
    account_id, seen, name = row
    now = utcnow()
    if seen is None or as_utc(seen) < now - SEEN_EVERY:
        db.execute(_SEEN, {"account_id": account_id, "now": now})
    return Profile(account_id, mask_name(name) if name else ""), as_utc(seen) if seen else None


def seen_within_the_hour(seen: datetime | None) -> bool:
    """True when an account last seen at `seen` wrote within SEEN_EVERY: its cached profile (kept
    as long) should still be in Redis, unless Redis lost its data since (see
    `RedisStorage.data_since`) or the account was made elsewhere (an API login)."""
    return seen is not None and seen >= utcnow() - SEEN_EVERY


def track_profile_changes(sessions: sessionmaker, forget: Callable[[list[str]], None]) -> None:
    """Invalidate cached profiles (bot.core.state.Profile) at every commit of a session of
    `sessions` that changed them: a binding made or ended, an account deleted, a graduate renamed.
    Whatever surface commits (chat, API, console, jobs, imports through the ORM), the profiles it
    changed are forgotten after the commit; `Session.info[CHANGED]` then says it happened."""

    @event.listens_for(sessions, "after_flush")
    def _note(session: Session, _context) -> None:
        accounts: set[int] = set()
        students: set[int] = set()
        for obj in (*session.new, *session.dirty, *session.deleted):
            if isinstance(obj, Binding):
                accounts.add(obj.account_id)
            elif isinstance(obj, Account) and obj in session.deleted:
                accounts.add(obj.id)
            elif isinstance(obj, Student) and inspect(obj).attrs.name.history.deleted:
                students.add(obj.id)
        if accounts or students:
            bound = select(Binding.account_id).where(
                Binding.student_id.in_(students), Binding.state == BindingState.ACTIVE
            )
            query = select(Account.channel, Account.app_id, Account.user_key).where(
                or_(Account.id.in_(accounts), Account.id.in_(bound))
            )
            pending = session.info.setdefault(PENDING, set())
            pending.update(user_tag(*row) for row in session.connection().execute(query))

    @event.listens_for(sessions, "after_commit")
    def _forget(session: Session) -> None:
        tags = session.info.pop(PENDING, None)
        if tags:
            session.info[CHANGED] = True
            try:
                forget(sorted(tags))
            except Exception:  # Redis away: the cached profiles expire within the hour
                log.warning("could not invalidate %d cached profiles", len(tags))


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
