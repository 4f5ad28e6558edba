"""Alipay gateway notifications, stored once per `notify_id` before we answer `success`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models import Base, utcnow


class AlipayNotification(Base):
    """One verified notification; the unique `notify_id` makes Alipay's retries a no-op."""

    __tablename__ = "alipay_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    notify_id: Mapped[str] = mapped_column(String(128), unique=True)
    notify_type: Mapped[str] = mapped_column(String(128))
    app_id: Mapped[str] = mapped_column(String(32))
    notify_time: Mapped[str | None] = mapped_column(String(32))  # as sent (Beijing time)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[str] = mapped_column(Text)  # the verified fields as JSON, without the signature
