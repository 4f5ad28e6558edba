"""Telling people that a ticket changed: the effect every surface uses (console decisions, the
upkeep sweep, proxies), and the structured notice for channels that only send templates (the
mini-programs' subscribe and template messages), where the chat channels get a text."""

from __future__ import annotations

from dataclasses import dataclass

from bot.appeals import rules
from bot.appeals.rules import STATUS_NAMES
from bot.core.messages import Effect, Reply
from bot.platform.workdays import local
from models import Appeal, AppealEvent, as_utc


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
        appeal_id=appeal.id,
        ticket_no=appeal.ticket_no,
        status=appeal.status,
        status_name=STATUS_NAMES.get(appeal.status, appeal.status),
        note=(note or "").strip(),
        changed_at_text=f"{local(as_utc(appeal.status_changed_at)):%Y-%m-%d %H:%M}",
    )


def tell_followers(s, payload: dict) -> None:
    """Effect: tell whoever follows the ticket that it changed: the filer (a proxy only while it
    may still act in appeals) and, for a ticket a proxy filed, the graduate. With `event_id` the
    message is that change's status and note, even when the ticket has moved on before this runs."""
    appeal = s.db.get(Appeal, payload["appeal_id"])
    if appeal is None:
        return
    event = s.db.get(AppealEvent, payload["event_id"]) if payload.get("event_id") else None
    note = event.note if event is not None else payload.get("note")
    changed = rules.as_changed(appeal, event)
    text, notice = (
        rules.status_message(changed, note, s.domain.college),
        appeal_notice(changed, note),
    )
    for account in rules.followers(s.db, appeal, s.now()):
        s.push(account.channel, account.app_id, account.user_key, [Reply(text)], notice=notice)


def ticket_changed(appeal_id: int, note: str | None = None, event_id: int | None = None) -> Effect:
    """The effect that tells a ticket's followers of one change (queued: it pushes). With `event_id`
    the note is read from that event, so staff's free text does not travel through the job queue."""
    return Effect(
        tell_followers,
        {"appeal_id": appeal_id, "note": None if event_id else note, "event_id": event_id},
        key=f"appeal:{appeal_id}:{event_id or ''}",
    )
