"""Completed console sign-ins: when, from which address and with which second factor. The weekly
anomaly report reads them (odd hours, new addresses); failures stay in the audit trail."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models import Base, enum_type, utcnow


class SignInFactor(StrEnum):
    PASSWORD = "password"  # a clerk who has not enrolled a second factor
    TOTP = "totp"
    SMS = "sms"


class StaffSignIn(Base):
    """One completed sign-in of a staff user (password and, where needed, the second factor)."""

    __tablename__ = "staff_sign_ins"
    __table_args__ = (Index("ix_staff_sign_ins_staff", "staff_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    address: Mapped[str] = mapped_column(String(64))
    factor: Mapped[SignInFactor] = mapped_column(enum_type(SignInFactor, "factor", length=8))
