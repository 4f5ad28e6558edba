"""Services the flows use: the SQL session and the domain services built on it and on Redis.

One `Services` is opened per message by the engine (through the factory that create_app wires)
and committed or rolled back at the engine boundary, never inside a flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from sqlalchemy.orm import Session

from bot.core.accounts import account_for, audit
from bot.core.messages import Inbound
from models import Account


@dataclass
class Services:
    """Everything a flow may touch for one message."""

    db: Session
    redis: Redis
    msg: Inbound
    config: dict = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # domain services added by later modules

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["extra"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def account(self) -> Account:
        """The sender's account row, created on first contact."""
        if "_account" not in self.__dict__:
            self.__dict__["_account"] = account_for(self.db, self.msg)
        return self.__dict__["_account"]

    def audit(self, action: str, subject_student_id: int | None = None, result: str = "ok", detail: str | None = None) -> None:
        """Append an audit row in the current transaction."""
        audit(self.db, self.account.id, action, subject_student_id, result, self.msg.msg_id, detail)

    def commit(self) -> None:
        """Commit the SQL session (engine boundary)."""
        self.db.commit()

    def rollback(self) -> None:
        """Roll the SQL session back."""
        self.db.rollback()

    def close(self) -> None:
        """Return the connection to the pool."""
        self.db.close()
