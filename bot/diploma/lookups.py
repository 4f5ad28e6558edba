"""Lookups on the public verification page, counted for the dashboard without a SQL write per view.

Each answered lookup is one Redis round trip: a counter per (certificate found, outcome) in a
bucket per minute. The upkeep's sweep moves the buckets whose minute has passed into
`verification_lookups`, one row per lookup stamped with its minute, so the dashboard counts rows
as before. A bucket is taken atomically (read and deleted in one script), so two sweeps never
write it twice; what Redis loses before a sweep, or a sweep whose commit fails after taking a
bucket, is lost to the dashboard only (nothing else reads these counts). Neither the code typed
nor the address is kept.
"""

from __future__ import annotations

from datetime import UTC, datetime

from redis import Redis
from sqlalchemy import insert
from sqlalchemy.orm import Session

from bot.core import keys
from bot.core.state import OneTrip
from models import LookupOutcome, VerificationLookup

KEEP = 7 * 86400  # a bucket no sweep took in a week is dropped by Redis
_FORMAT = "%Y%m%d%H%M"

_COUNT = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

_TAKE = """
local counts = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return counts
"""


class LookupCounter:
    """Counts the page's lookups in Redis (`count`) and writes them to SQL (`flush`)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._count = OneTrip(redis, _COUNT)
        self._take = redis.register_script(_TAKE)

    def count(self, certificate_id: int | None, outcome: str, now: datetime) -> None:
        """One answered lookup at `now` (UTC)."""
        minute = now.strftime(_FORMAT)
        self._count(
            keys=[keys.verify_lookups(minute), keys.verify_lookup_buckets()],
            args=[f"{certificate_id or 0}:{outcome}", minute, KEEP],
        )

    def flush(self, db: Session, now: datetime) -> int:
        """Write the buckets of the minutes before `now` as rows in `db` (committed by the
        caller); the number of lookups written."""
        current = now.strftime(_FORMAT)
        rows = []
        for raw in sorted(self.redis.smembers(keys.verify_lookup_buckets())):
            minute = raw.decode()
            if minute >= current:
                continue
            at = datetime.strptime(minute, _FORMAT).replace(tzinfo=UTC)
            counts = self._take(
                keys=[keys.verify_lookups(minute), keys.verify_lookup_buckets()], args=[minute]
            )
            for field, n in zip(counts[::2], counts[1::2], strict=True):
                found, _, outcome = field.decode().partition(":")
                row = {
                    "at": at,
                    "certificate_id": int(found) or None,
                    "outcome": LookupOutcome(outcome),
                }
                rows.extend([row] * int(n))
        if rows:
            db.execute(insert(VerificationLookup), rows)
        return len(rows)
