"""RQ job functions, enqueued by reference (`queue.enqueue(jobs.run_effect, ...)`). They run in
the worker, inside the app context that `gradcert worker` opens."""

from __future__ import annotations

from bot import upkeep
from bot.appeals.notices import tell_followers
from bot.binding.rules import notify_displaced, send_otp_sms
from bot.core import effects
from bot.core.messages import Effect, Inbound, Reply
from bot.diploma.files import render_certificate
from bot.platform import registrar_uploads
from bot.platform.attachments import fetch_attachment
from handlers.current import runtime

# Jobs queued before effects were named by reference carry the effect's name; a worker of this
# release still runs them, so that an upgrade loses no code SMS, PDF or notice in flight.
# (Remove once no deployment can hold such jobs: one release later.)
QUEUED_BY_NAME = {
    fn.__name__: fn
    for fn in (
        send_otp_sms,
        notify_displaced,
        render_certificate,
        fetch_attachment,
        effects.account_subscribed,
        effects.account_unsubscribed,
        effects.forget_user,
        effects.push_accounts,
    )
}


def run_effect(action, payload: dict, inbound: dict | None) -> None:
    """A queued effect of one message (or of a staff action or job, with no message)."""
    if isinstance(action, str):
        action = QUEUED_BY_NAME[action]
    runtime().run_effect(Effect(action, payload), Inbound.from_job(inbound) if inbound else None)


def push_replies(inbound: dict, replies: list[dict]) -> None:
    """Replies that missed the callback deadline, through the push API."""
    msg = Inbound.from_job(inbound)
    runtime().push_to(msg.channel, msg.app_id, msg.user_key, [Reply.from_dict(r) for r in replies])


def sweep() -> int:
    """Periodic upkeep (bot.upkeep), its notices sent as effects after the commit."""
    with runtime().unit() as s:
        return upkeep.sweep(s)


def notify_appeal(appeal_id: int, note: str | None = None, event_id: int | None = None) -> None:
    """A ticket-change notice queued by the previous release (now the `tell_followers` effect)."""
    payload = {"appeal_id": appeal_id, "note": note, "event_id": event_id}
    runtime().run_effect(Effect(tell_followers, payload), None)


def push_text(channel: str, app_id: str, user_key: str, text: str) -> None:
    """A text queued by the previous release (now the `push_text` effect)."""
    runtime().push_to(channel, app_id, user_key, [Reply(text)])


def run_registrar_import(import_id: int) -> None:
    """A registrar file confirmed in the console (bot.platform.registrar_uploads.run)."""
    registrar_uploads.run(runtime().sessions, runtime().domain.cipher, import_id)
