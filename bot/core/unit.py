"""The unit of work: one SQL session, the process's domain services, the reply texts and the
effects to run once after the commit, for one message of one person (chat or API) or for one
staff action or job (no message).

Every surface opens it the same way, through the runtime's `unit()` (the engine through the same
factory), and it is committed or rolled back at that boundary, never inside a rule or a script.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis
from sqlalchemy.orm import Session

from bot.core.accounts import CHANGED, account_for, audit, profile_of
from bot.core.domain import Domain
from bot.core.messages import Effect, Inbound
from bot.core.replies import ReplyBook
from bot.core.state import Profile
from bot.platform.crypto import PiiCipher
from bot.platform.otp import OtpService
from bot.platform.sms import SmsProvider
from models import Account


@dataclass
class Services:
    """Everything a rule, a script or an effect may touch for one message or one staff action."""

    sessions: Callable[[], Session]  # the SQL session is opened on first use (`db`)
    redis: Redis
    domain: Domain
    book: ReplyBook
    config: dict
    msg: Inbound | None = None  # None for staff actions and jobs
    effects: list[Effect] = field(default_factory=list)  # run once after the commit
    # the sender's profile, cached in Redis beside the state (the engine passes it), or read
    # from SQL once in this unit (`profile_read`: the engine caches it after the commit)
    profile: Profile | None = None
    profile_read: Profile | None = field(default=None, repr=False)
    profiles_changed: bool = False  # this unit's commit changed bindings or accounts
    last_seen: datetime | None = None  # before this message, when the profile was read from SQL
    _account: Account | None = field(default=None, repr=False)
    _db: Session | None = field(default=None, repr=False)

    @property
    def db(self) -> Session:
        """The unit's SQL session, opened on first use: a message at the menu needs none."""
        if self._db is None:
            self._db = self.sessions()
        return self._db

    @property
    def account(self) -> Account:
        """The sender's account row, created on first contact."""
        if self._account is None:
            if self.msg is None:
                raise LookupError("a unit of work without a message has no account")
            known = self.profile or self.profile_read
            if known is not None:
                self._account = self.db.get(Account, known.account_id)
            if self._account is None:
                self._account = account_for(self.db, self.msg)
        return self._account

    def who(self) -> Profile:
        """The sender's profile (account id, masked name of the bound graduate): from the cache,
        else one SQL query (which creates the account on first contact)."""
        if self.profile is None and self.profile_read is None:
            if self.msg is None:
                raise LookupError("a unit of work without a message has no sender")
            self.profile_read, self.last_seen = profile_of(self.db, self.msg)
        return self.profile or self.profile_read

    @property
    def account_id(self) -> int:
        """The sender's account id, without SQL when the profile is cached."""
        return self._account.id if self._account is not None else self.who().account_id

    @property
    def cipher(self) -> PiiCipher:
        """SM4 sealing and SM3 blind indexes of personal data."""
        return self.domain.cipher

    @property
    def otp(self) -> OtpService:
        """SMS one-time codes."""
        return self.domain.otp

    @property
    def sms(self) -> SmsProvider:
        """The SMS provider."""
        return self.domain.sms

    def now(self) -> datetime:
        """The current time (UTC); tests move it through `domain.clock`."""
        return self.domain.clock()

    def push(self, channel: str, app_id: str, user_key: str, replies: list, notice=None) -> bool:
        """Send replies to any user of a channel now (from effects only); `notice`: the structured
        appeal notice for channels that only send templates. True when the channel reached them."""
        return bool(self.domain.push(channel, app_id, user_key, replies, notice=notice))

    def audit(
        self,
        action: str,
        subject_student_id: int | None = None,
        result: str = "ok",
        detail: str | None = None,
    ) -> None:
        """Append an audit row (acting account, message id) in the current transaction."""
        audit(self.db, self.account.id, action, subject_student_id, result, self.msg.msg_id, detail)

    def commit(self) -> None:
        """Commit the SQL session (at the boundary only); the commit invalidates the cached
        profiles it changed (bot.core.accounts.track_profile_changes)."""
        if self._db is not None and self._db.in_transaction():  # a menu message has no SQL
            self._db.commit()
            self.profiles_changed = bool(self._db.info.pop(CHANGED, False))

    def rollback(self) -> None:
        """Roll the SQL session back, and forget the effects collected so far (nothing they would
        tell or do has happened)."""
        if self._db is not None:
            self._db.rollback()
        self.effects.clear()

    def close(self) -> None:
        """Return the connection to the pool."""
        if self._db is not None:
            self._db.close()
