"""Replay protection for signed callbacks: a (timestamp, nonce) pair may carry one body only.

A retry of the very same request (same body) passes, so that delivery dedup can answer it with the
cached reply; the same nonce with another body is a replay and is refused.
"""

from __future__ import annotations

import hashlib

from redis import Redis

from bot.core import keys
from bot.core.errors import ReplayedRequest

NONCE_TTL = 600  # longer than the 300 s timestamp window on either side


def replay_check(channel: str, timestamp: str, nonce: str, body: bytes) -> tuple[str, str]:
    """(the nonce's key, the body's digest): what the engine's first round trip checks."""
    return keys.nonce(channel, timestamp, nonce), hashlib.sha256(body).hexdigest()


def check_nonce(redis: Redis, channel: str, timestamp: str, nonce: str, body: bytes) -> None:
    """Raise ReplayedRequest if this nonce was used before with a different body."""
    key, digest = replay_check(channel, timestamp, nonce, body)
    if redis.set(key, digest, nx=True, ex=NONCE_TTL):
        return
    seen = redis.get(key)
    if seen is not None and seen.decode() != digest:
        raise ReplayedRequest("nonce reused with another body")
