"""The limit on failed identity matches (5 an hour per account), shared by binding and proxy
requests, so that the chat cannot be used to test whether someone studied here."""

from __future__ import annotations

from redis import Redis

from bot.services.ratelimit import RateLimit

PER_HOUR = 5


def _key(user_tag: str) -> str:
    return f"gc:{user_tag}:mismatch"


def wait(redis: Redis, user_tag: str) -> int:
    """Seconds until this account may try to match again (0: now)."""
    return RateLimit(redis, PER_HOUR, 3600).retry_after(_key(user_tag))


def note(redis: Redis, user_tag: str) -> None:
    """Count one failed match."""
    RateLimit(redis, PER_HOUR, 3600).hit(_key(user_tag))
