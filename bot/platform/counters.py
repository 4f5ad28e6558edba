"""Counters that must survive Redis (wrong codes and their lock, identity mismatches, console
login failures). Redis counts them, atomically and fast; after each change the count and the end
of its window are copied to SQL (`security_counters`, in the caller's transaction), and a counter
Redis has lost (a restart without persistence) is put back from SQL before it is read.

Everything else Redis holds (conversations, cooldowns, per-minute limits, dedup) may be lost: the
identity-protecting counters are the ones a restart must not reset.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from redis import Redis
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import SecurityCounter, as_utc, utcnow


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def restore(db: Session, redis: Redis, *redis_keys: str) -> None:
    """Put back, from SQL, each counter Redis does not hold (never over one it holds)."""
    now = utcnow()
    for key in redis_keys:
        if redis.exists(key):
            continue
        row = db.get(SecurityCounter, _digest(key))
        if row is None or row.count <= 0:
            continue
        left = int((as_utc(row.expires_at) - now).total_seconds())
        if left > 0:
            redis.set(key, row.count, ex=left, nx=True)


def save(db: Session, redis: Redis, kind: str, *redis_keys: str) -> None:
    """Copy each counter's count and window to SQL (a counter Redis dropped is deleted)."""
    now = utcnow()
    for key in redis_keys:
        pipe = redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.ttl(key)
        value, ttl = pipe.execute()
        if value is None or ttl is None or int(ttl) <= 0:
            db.execute(delete(SecurityCounter).where(SecurityCounter.key_digest == _digest(key)))
            continue
        row = {
            "key_digest": _digest(key),
            "kind": kind,
            "count": int(value),
            "expires_at": now + timedelta(seconds=int(ttl)),
        }
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(SecurityCounter).values(**row)
        db.execute(
            stmt.on_conflict_do_update(
                index_elements=["key_digest"],
                set_={"count": stmt.excluded.count, "expires_at": stmt.excluded.expires_at},
            )
        )


def purge_expired(db: Session) -> int:
    """Delete the rows whose window has ended (the upkeep sweep); returns how many."""
    stale = select(SecurityCounter.key_digest).where(SecurityCounter.expires_at < utcnow())
    return db.execute(delete(SecurityCounter).where(SecurityCounter.key_digest.in_(stale))).rowcount
