"""RQ job functions. They run in the worker, inside the app context that `gradcert worker` opens."""

from __future__ import annotations

from flask import current_app

from bot.messages import Effect, Reply
from handlers.runtime import inbound_from_dict


def _runtime():
    return current_app.extensions["gradcert"]


def run_effect(name: str, payload: dict, inbound: dict) -> None:
    """A queued effect of one message."""
    _runtime().run_effect(Effect(name, payload), inbound_from_dict(inbound))


def push_replies(inbound: dict, replies: list[dict]) -> None:
    """Replies that missed the callback deadline, through the push API."""
    _runtime().push(inbound_from_dict(inbound), [Reply.from_dict(r) for r in replies])
