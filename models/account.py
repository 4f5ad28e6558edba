"""A user of one channel: a WeChat openid or an Alipay user id under one app id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models import Base, utcnow


class Account(Base):
    """One (channel, app id, user key). Created on first contact; never holds personal data."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("channel", "app_id", "user_key", name="uq_accounts_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(64))
    user_key: Mapped[str] = mapped_column(String(128))
    unionid: Mapped[str | None] = mapped_column(String(128))
    subscribed: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
