"""Counters that protect identity (wrong codes and their lock, identity mismatches, console login
failures), mirrored from Redis so that a Redis restart without persistence does not reset them.
Each row is keyed by a digest of the Redis key: no openid, username or address in clear."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models import Base


class SecurityCounter(Base):
    """The count a Redis counter held, and when its window ends."""

    __tablename__ = "security_counters"
    __table_args__ = (Index("ix_security_counters_expires_at", "expires_at"),)

    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
