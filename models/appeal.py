"""Appeals (异议申请) filed in the chat, their events and attachments, and the staff who handle them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import Base, enum_type, utcnow


class AppealStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    NEED_MORE_INFO = "need_more_info"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    CLOSED = "closed"


OPEN_STATUSES = (AppealStatus.SUBMITTED, AppealStatus.UNDER_REVIEW, AppealStatus.NEED_MORE_INFO)


class AppealEventKind(StrEnum):
    SUBMITTED = "submitted"
    STATUS = "status"  # a status change (from_status -> to_status)
    INFO = "info"  # the filer added information
    NOTE = "note"  # staff-internal, never shown to the filer


class Appeal(Base):
    """One ticket. The filer's claimed identity is kept sealed when no student record matched."""

    __tablename__ = "appeals"
    __table_args__ = (Index("ix_appeals_status_due", "status", "due_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True)
    acting_for_student_id: Mapped[int | None] = mapped_column(
        ForeignKey("students.id")
    )  # filed by a proxy
    claimed_name: Mapped[str | None] = mapped_column(String(64))
    claimed_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    claimed_student_no: Mapped[str | None] = mapped_column(String(32))
    contact_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    contact_email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # optional, for notices
    pii_key_version: Mapped[int] = mapped_column(default=1)
    campus: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(default=False)
    urgent_reason: Mapped[str | None] = mapped_column(String(64))
    urgent_deadline: Mapped[date | None] = mapped_column()
    status: Mapped[AppealStatus] = mapped_column(
        enum_type(AppealStatus, "status"), default=AppealStatus.SUBMITTED
    )
    due_date: Mapped[date] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolution: Mapped[str | None] = mapped_column(Text)
    next_route: Mapped[str | None] = mapped_column(String(32))  # chsi (学信网学历认证) / window
    submission_key: Mapped[str | None] = mapped_column(
        String(64), unique=True
    )  # one filing per summary

    events: Mapped[list[AppealEvent]] = relationship(
        back_populates="appeal", order_by="AppealEvent.id"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="appeal", order_by="Attachment.id"
    )


class AppealEvent(Base):
    """Something that happened to a ticket: filed, status changed, information added, a note."""

    __tablename__ = "appeal_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[AppealEventKind] = mapped_column(enum_type(AppealEventKind, "kind"))
    from_status: Mapped[AppealStatus | None] = mapped_column(enum_type(AppealStatus, "from_status"))
    to_status: Mapped[AppealStatus | None] = mapped_column(enum_type(AppealStatus, "to_status"))
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    actor_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    note: Mapped[str | None] = mapped_column(Text)

    appeal: Mapped[Appeal] = relationship(back_populates="events")


class AttachmentState(StrEnum):
    PENDING = "pending"  # media id received, download queued
    STORED = "stored"
    REJECTED = "rejected"  # too large, not an image, or the download failed


class Attachment(Base):
    """A photo sent in the chat for a ticket (or a proxy's notarised authorisation), downloaded
    through the media API by an RQ job."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeals.id"), index=True)
    proxy_id: Mapped[int | None] = mapped_column(ForeignKey("proxies.id"), index=True)
    media_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[AttachmentState] = mapped_column(
        enum_type(AttachmentState, "state"), default=AttachmentState.PENDING
    )
    storage_key: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int | None] = mapped_column()
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    appeal: Mapped[Appeal] = relationship(back_populates="attachments")


class StaffRole(StrEnum):
    CLERK = "clerk"
    DIRECTOR = "director"
    AUDITOR = "auditor"  # 纪检: reads the audit log and the anomaly report, nothing else


class StaffUser(Base):
    """A console user: a clerk works tickets; a director also exports and manages users; an auditor
    only reads the audit log and the anomaly report."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[StaffRole] = mapped_column(enum_type(StaffRole, "role"), default=StaffRole.CLERK)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # directors: export codes go here
    pii_key_version: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed like a phone
    totp_enrolled_at: Mapped[datetime | None] = mapped_column()
    credentials_at: Mapped[datetime | None] = mapped_column()  # sessions begun before: ended
