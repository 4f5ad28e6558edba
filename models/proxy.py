"""Proxies: a direct relative (or a village service point) acting for a graduate, with the
graduate's consent and a notarised authorisation reviewed by staff."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import Base, enum_type, utcnow
from models.student import Student


class Relationship(StrEnum):
    PARENT = "parent"
    SPOUSE = "spouse"
    CHILD = "child"
    SERVICE_POINT = "service_point"  # 村级事务中心, with a staff account


class ProxyState(StrEnum):
    REQUESTED = "requested"
    AWAITING_GRADUATE = "awaiting_graduate"
    AWAITING_DOCUMENT = "awaiting_document"
    AWAITING_REVIEW = "awaiting_review"
    ACTIVE = "active"
    REFUSED = "refused"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Scope(StrEnum):
    LOOKUP = "lookup"
    CERTIFICATE = "certificate"
    APPEAL = "appeal"


ALL_SCOPES = ",".join(Scope)


class Proxy(Base):
    """One proxy account acting for one graduate."""

    __tablename__ = "proxies"
    __table_args__ = (Index("ix_proxies_account_state", "proxy_account_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proxy_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    relation: Mapped[Relationship] = mapped_column(enum_type(Relationship, "relation"))
    scope: Mapped[str] = mapped_column(String(64), default=ALL_SCOPES)
    state: Mapped[ProxyState] = mapped_column(
        enum_type(ProxyState, "state", 20), default=ProxyState.REQUESTED
    )
    confirmed_by: Mapped[str | None] = mapped_column(String(16))  # sms_code / graduate_account
    graduate_confirmed_at: Mapped[datetime | None] = mapped_column()
    notarised_no: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column()
    valid_until: Mapped[datetime | None] = mapped_column()
    reviewed_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    review_note: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(16))  # graduate / proxy / staff
    expiry_warned_at: Mapped[datetime | None] = mapped_column()

    student: Mapped[Student] = relationship(lazy="joined")

    def allows(self, scope: Scope) -> bool:
        """True when this proxy's scope covers `scope`."""
        return scope in self.scope.split(",")
