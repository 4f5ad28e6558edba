"""Structured notices for channels that only send templates (the mini-programs' subscribe and
template messages): the fields of an appeal status change, where the chat channels get a text."""

from __future__ import annotations

from dataclasses import dataclass

from bot.appeals.rules import STATUS_NAMES
from bot.platform.workdays import local
from models import Appeal, as_utc


@dataclass(frozen=True)
class AppealNotice:
    """An appeal changed status; `note` is what staff wrote for the filer (may be empty)."""

    appeal_id: int
    ticket_no: str
    status: str
    status_name: str
    note: str
    changed_at_text: str  # Asia/Shanghai, "YYYY-MM-DD HH:MM"

    def summary(self, limit: int) -> str:
        """The note (or the status) cut to a template field's length."""
        text = self.note or f"申请状态：{self.status_name}"
        return text if len(text) <= limit else text[: limit - 1] + "…"


def appeal_notice(appeal: Appeal, note: str | None) -> AppealNotice:
    """The notice of the ticket's current status."""
    return AppealNotice(
        appeal_id=appeal.id, ticket_no=appeal.ticket_no, status=appeal.status,
        status_name=STATUS_NAMES.get(appeal.status, appeal.status), note=(note or "").strip(),
        changed_at_text=f"{local(as_utc(appeal.status_changed_at)):%Y-%m-%d %H:%M}",
    )
