"""The audit trail: who did what to whose record, and how it ended. Append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models import Base, utcnow


class AuditEvent(Base):
    """One action. `actor_account_id` acts; `subject_student_id` is whose data it touched."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_student_id", "at"),
        Index("ix_audit_events_action_at", "action", "at"),  # the dashboard's counts by day
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    actor_staff: Mapped[str | None] = mapped_column(String(64))
    subject_student_id: Mapped[int | None] = mapped_column()
    # after 删除我的信息: a keyed pseudonym of the subject instead of its id (bot.account.erasure)
    subject_pseudonym: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(48))
    result: Mapped[str] = mapped_column(String(32), default="ok")
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(255))  # never personal data
