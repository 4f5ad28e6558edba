"""RQ job functions, enqueued by reference (`queue.enqueue(jobs.run_effect, ...)`). They run in
the worker, inside the app context that `gradcert worker` opens."""

from __future__ import annotations

import logging
import secrets
import time

from rq import Retry

from bot import upkeep
from bot.appeals.notices import tell_followers
from bot.binding.rules import notify_displaced, send_otp_sms
from bot.core import effects, keys
from bot.core.messages import Effect, Inbound, Reply
from bot.diploma.files import render_certificate
from bot.platform import registrar_sync, registrar_uploads
from bot.platform.attachments import fetch_attachment
from bot.platform.registrar_source import RegistrarSource
from handlers.current import runtime
from handlers.logs import request_id

# Push and notify jobs retry a WeChat/Alipay API failure after 10 s, 1 min and 5 min (a multi-
# account push may reach an account twice: pushes are at least once). SMS codes, PDFs and photos
# are not retried: a code that comes minutes late is worse than "发送失败，请重试".
PUSH_RETRY = Retry(max=3, interval=[10, 60, 300])
RETRIED_EFFECTS = frozenset(
    {effects.push_accounts, effects.push_text, tell_followers, notify_displaced}
)


def enqueue(queue, fn, *args, retry: bool = False, **kwargs):
    """Queue `fn` by reference, carrying the current request id into the job's log lines
    (handlers/worker.py), with PUSH_RETRY when `retry`."""
    meta = {"request_id": request_id.get()}
    return queue.enqueue(fn, *args, meta=meta, retry=PUSH_RETRY if retry else None, **kwargs)


def retried(action) -> bool:
    """Whether a queued effect is a push or a notice (retried with backoff)."""
    return action in RETRIED_EFFECTS


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


def sync_registrar(kind: registrar_sync.SyncKind | None = None):
    """One registrar sync pass (`kind`, or whichever is due now: None when none is, when the sync
    is not configured, or when another process holds the pass). A failure is recorded and raised."""
    rt = runtime()
    config = rt.config
    if not config.get("REGISTRAR_URL"):
        return None
    token, lock = secrets.token_hex(8), keys.registrar_sync_lock()
    if not rt.redis.set(lock, token, nx=True, ex=3600):
        return None
    try:
        if kind is None:
            with rt.sessions() as db:
                kind = registrar_sync.due(
                    registrar_sync.current(db),
                    rt.domain.clock(),
                    int(config["REGISTRAR_SYNC_MINUTES"]),
                    config["REGISTRAR_FULL_AT"],
                )
            if kind is None:
                return None
        source = RegistrarSource(config["REGISTRAR_URL"], config["REGISTRAR_QUERY"])
        try:
            return registrar_sync.sync(
                rt.sessions,
                rt.domain.cipher,
                source,
                kind,
                batch=int(config["REGISTRAR_BATCH"]),
                now=rt.domain.clock(),
            )
        finally:
            source.close()
    finally:
        if rt.redis.get(lock) in (token, token.encode()):
            rt.redis.delete(lock)


def upkeep_tick(last_sweep: float, every: float = 600.0) -> float:
    """One minute of the worker's upkeep: the sweep when `every` seconds have passed since
    `last_sweep` (time.monotonic), then the registrar sync pass that is due. A failure of either is
    logged and never stops the other; returns when the sweep last ran."""
    log = logging.getLogger(__name__)
    if time.monotonic() - last_sweep >= every:
        last_sweep = time.monotonic()
        try:
            sweep()
        except Exception:
            log.exception("upkeep failed")
    try:
        if report := sync_registrar():
            log.info("registrar sync: %s", report.summary())
    except Exception:
        log.exception("registrar sync failed")
    return last_sweep


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
