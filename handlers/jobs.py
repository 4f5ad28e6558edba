"""RQ job functions, enqueued by reference (`queue.enqueue(jobs.run_effect, ...)`). They run in
the worker, inside the app context that `gradcert worker` opens."""

from __future__ import annotations

from bot import upkeep
from bot.core.messages import Effect, Inbound, Reply
from handlers.current import runtime


def run_effect(action, payload: dict, inbound: dict | None) -> None:
    """A queued effect of one message (or of a staff action or job, with no message)."""
    runtime().run_effect(Effect(action, payload), Inbound.from_job(inbound) if inbound else None)


def push_replies(inbound: dict, replies: list[dict]) -> None:
    """Replies that missed the callback deadline, through the push API."""
    msg = Inbound.from_job(inbound)
    runtime().push_to(msg.channel, msg.app_id, msg.user_key, [Reply.from_dict(r) for r in replies])


def sweep() -> int:
    """Periodic upkeep (bot.upkeep), its notices sent as effects after the commit."""
    with runtime().unit() as s:
        return upkeep.sweep(s)
