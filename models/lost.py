"""Lost-certificate requests (证书遗失: a 学历证明书 in its place). The ticket itself is an `Appeal`
of the `lost_certificate` category, so staff handle it with the appeals' lifecycle, timeline and
notices; this row holds what only a lost certificate has: how it is delivered (the postal address
sealed like other personal data) and the fee the college asked when it was filed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import Base, enum_type, utcnow
from models.appeal import Appeal


class Delivery(StrEnum):
    PICKUP = "pickup"  # at the registrar's office
    POST = "post"  # to the address given (sealed)


class LostCertificate(Base):
    """What a lost-certificate ticket adds to its appeal row."""

    __tablename__ = "lost_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), unique=True)
    delivery: Mapped[Delivery] = mapped_column(enum_type(Delivery, "delivery"))
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed, column `address`
    pii_key_version: Mapped[int] = mapped_column(default=1)
    purpose: Mapped[str | None] = mapped_column(String(64))  # e.g. 出国留学, 入职
    fee_yuan: Mapped[int] = mapped_column(default=0)  # as the settings said when it was filed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    appeal: Mapped[Appeal] = relationship()
