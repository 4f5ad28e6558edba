"""Where the registrar sync stands (its high-water marks, last runs) and the rows it refused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models import Base, utcnow


class RegistrarSync(Base):
    """One row per source (`registrar`). A mark is the (updated_at, student_no, source) of the last
    row of the last committed batch, as JSON of the source's own values (so that it is bound back
    exactly as the source compares it). `full_mark` is set while a full pass is under way."""

    __tablename__ = "registrar_sync"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    mark: Mapped[str | None] = mapped_column(Text)
    full_mark: Mapped[str | None] = mapped_column(Text)
    full_started_at: Mapped[datetime | None] = mapped_column()
    last_full_at: Mapped[datetime | None] = mapped_column()  # start of the last finished full pass
    last_run_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()  # start of the last finished pass
    last_error: Mapped[str | None] = mapped_column(String(255))
    last_summary: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RegistrarRefusal(Base):
    """A source row the sync refused, kept until a later version of it is accepted. The reason
    masks personal values (as the file import's do)."""

    __tablename__ = "registrar_refusals"
    __table_args__ = (UniqueConstraint("student_no", "source", name="uq_registrar_refusals_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_no: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    source_updated_at: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
