"""Organisations that verify certificates through the API (employers, schools abroad): their keys,
issued by directors and stored hashed, and every lookup they make."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import Base, utcnow


class VerifierKey(Base):
    """One organisation's API key. Only its SHA-256 is kept (`key_hash`); `key_prefix` (the first
    characters, not secret) lets staff and the organisation tell keys apart."""

    __tablename__ = "verifier_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation: Mapped[str] = mapped_column(String(128))
    contact: Mapped[str] = mapped_column(String(128))
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    daily_quota: Mapped[int] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column()


class OrganisationLookup(Base):
    """One lookup by an organisation: the code asked, what it was told (`result`: a certificate
    status, `unknown` or `tampered`) and whether the name it gave matched (None: none given)."""

    __tablename__ = "organisation_lookups"
    __table_args__ = (Index("ix_organisation_lookups_key", "key_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("verifier_keys.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    code: Mapped[str] = mapped_column(String(16))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    result: Mapped[str] = mapped_column(String(16))
    name_matched: Mapped[bool | None] = mapped_column()

    key: Mapped[VerifierKey] = relationship(lazy="joined")
