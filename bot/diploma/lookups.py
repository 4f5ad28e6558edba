"""Lookups on the public verification page: its limits, its counts for the dashboard, and the
answers a worker remembers, for one Redis round trip per view and no SQL.

`PublicLookups.look_up` runs one script that checks the limits (per client address; per code prefix
for unknown codes, to slow guessing without ever blocking a real certificate), counts the lookup
and returns the certificates' generation (a random token). A worker remembers the public facts of
the codes it answered, known or not, for at most a minute (and never past a certificate's expiry),
each under the generation it read them at. Every commit that changes a certificate or a diploma
sets a new generation (`track_certificate_changes`), so a revocation, a closing or a new code shows
on the very next view, on every host. A code the worker does not remember costs one query and a
second trip, which counts it, checks the prefix limit of an unknown code and reads the remembered
SM2 verdict of a known one (for an unknown code a key that never exists): known and unknown codes
cost the same either way.

Counts: a counter per (certificate found, outcome) in a bucket per minute. The upkeep's sweep
(`write_counts`) moves the buckets whose minute has passed into `verification_lookups`, one row per
lookup stamped with its minute, so the dashboard counts rows. A bucket is taken atomically (read
and deleted in one script), so two sweeps never write it twice; what Redis loses before a sweep,
or a sweep whose commit fails after taking a bucket, is lost to the dashboard only (nothing else
reads these counts). Neither the code typed nor the address is kept.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event, insert
from sqlalchemy.orm import Session, sessionmaker

from bot.core import keys
from bot.core.errors import DATABASE_AWAY
from bot.core.state import OneTrip
from bot.diploma import certificates, verification
from bot.diploma.keyring import Keyring
from bot.diploma.verification import PublicFacts
from bot.platform.crypto import sm3
from models import Certificate, Diploma, LookupOutcome, VerificationLookup, as_utc, utcnow

log = logging.getLogger(__name__)

ADDRESS_LIMIT, PREFIX_LIMIT, WINDOW = 60, 30, 60  # lookups per window (seconds)
PREFIX_LENGTH = 4
REMEMBER = 60.0  # seconds a worker answers a code from memory (the generation permitting)
REMEMBERED = 1024  # codes a worker remembers at most (with their renderings, ~20 KB each)
KEEP = 7 * 86400  # a bucket no sweep took in a week is dropped by Redis
_FORMAT = "%Y%m%d%H%M"
CHANGED = "gradcert.certificates_changed"  # Session.info: this transaction changed certificates

_VIEW = """
-- KEYS: 1 address counter, 2 prefix counter, 3 the minute's bucket, 4 the set of buckets,
--       5 the generation, 6 a remembered SM2 verdict
-- ARGV: 1 address limit (0: not counted), 2 prefix limit (0: not counted), 3 window,
--       4 the generation the caller's facts were read at ('': none), 5 the outcome to count
--       ('': none), 6 the outcome instead when the verdict is '0' ('': the verdict does not
--       matter), 7 the minute, 8 how long a bucket is kept, 9 '1': read the verdict
-- {wait, generation, verdict, counted}; wait > 0 when a limit is full (then nothing more counted)
local function full(key, limit)
  if tonumber(redis.call('GET', key) or '0') >= limit then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then redis.call('EXPIRE', key, ARGV[3]); ttl = tonumber(ARGV[3]) end
    return ttl
  end
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[3]) end
  return 0
end
local gen = redis.call('GET', KEYS[5]) or '0'
local wait = 0
if tonumber(ARGV[1]) > 0 then wait = full(KEYS[1], tonumber(ARGV[1])) end
if wait > 0 then return {wait, gen, false, 0} end
if ARGV[4] ~= '' and ARGV[4] ~= gen then return {0, gen, false, 0} end
if tonumber(ARGV[2]) > 0 then wait = full(KEYS[2], tonumber(ARGV[2])) end
if wait > 0 then return {wait, gen, false, 0} end
local verdict = false
if ARGV[9] == '1' then verdict = redis.call('GET', KEYS[6]) end
local outcome = ARGV[5]
if ARGV[6] ~= '' then
  if verdict == '0' then outcome = ARGV[6] elseif verdict ~= '1' then outcome = '' end
end
if outcome == '' then return {0, gen, verdict, 0} end
if redis.call('HINCRBY', KEYS[3], outcome, 1) == 1 then  -- new in this minute's bucket
  redis.call('EXPIRE', KEYS[3], ARGV[8])
  redis.call('SADD', KEYS[4], ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[8])
end
return {0, gen, verdict, 1}
"""

_TAKE = """
local counts = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return counts
"""


@dataclass
class Seen:
    """A code's public facts as this worker read them, under the generation of that moment; the
    page keeps its renderings here (`renders`, one per kind and language), so they go when the
    facts do."""

    facts: PublicFacts  # without the certificate row
    found: int | None  # the certificate's id, for the count
    generation: str
    until: float  # time.monotonic() after which the facts are read again
    renders: dict = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        return f"{self.found or 0}:{self.facts.state}"

    def fresh(self, now: datetime) -> bool:
        expiry = self.facts.valid_until
        if self.facts.state == "valid" and expiry is not None and as_utc(expiry) <= now:
            return False  # it has just expired: the page must say so
        return time.monotonic() < self.until


@dataclass(frozen=True)
class Answer:
    """A lookup's answer: seconds to wait (a limit is full), else the facts (`seen`); `slow` when
    SM2 had to run for it (the page then holds it to its timing floor)."""

    wait: int = 0
    seen: Seen | None = None
    slow: bool = False


class PublicLookups:
    """The verification page's lookups (`look_up`) and their counts (`flush`)."""

    def __init__(self, redis: Redis, keyring: Keyring, remember: float = REMEMBER) -> None:
        self.redis = redis
        self.keyring = keyring
        self.remember = remember
        self._view = OneTrip(redis, _VIEW)
        self._seen: dict[str, Seen] = {}
        self._lock = threading.Lock()

    def look_up(self, sessions: Callable[[], Session], code: str, address: str) -> Answer:
        """The answer for a normalised `code` asked from `address`; raises DATABASE_AWAY when
        the code is not remembered and the database cannot be reached."""
        now = utcnow()
        seen = self._seen.get(code)
        if seen is not None and not seen.fresh(now):
            seen = None
        try:
            wait, generation, _, _ = self._trip(
                code,
                now,
                address=address,
                expect=seen.generation if seen else "",
                outcome=seen.outcome if seen else "",
                prefix=seen is not None and seen.found is None,
            )
        except RedisError:  # an employer still gets an answer, read from SQL
            log.warning("verification limits unavailable (Redis)")
            wait, generation = 0, None
        if wait:
            return Answer(wait)
        if seen is not None and seen.generation == generation:
            return Answer(0, seen)
        try:
            return self._read(sessions, code, generation, now)
        except DATABASE_AWAY:  # a pooled connection that died in an outage: once, on a fresh one
            return self._read(sessions, code, generation, now)

    def flush(self, db: Session, now: datetime) -> int:
        """The counts of the minutes before `now` written to `db` (see `write_counts`)."""
        return write_counts(self.redis, db, now)

    def _read(
        self, sessions: Callable[[], Session], code: str, generation: str | None, now: datetime
    ) -> Answer:
        """Read the facts from SQL, count the lookup (and read the verdict) in the second trip."""
        with sessions() as db:
            cert = verification.find(db, code)
            if cert is None:  # a key that never exists: the same trip as for a known code
                check = keys.signature_verdict(sm3(code.encode()).hex())
                outcome, forged = f"0:{LookupOutcome.UNKNOWN}", ""
            elif certificates.content_digest(cert) != cert.digest:
                check = certificates.verdict_key(cert, self.keyring)
                outcome, forged = f"{cert.id}:{LookupOutcome.TAMPERED}", ""
            else:
                check = certificates.verdict_key(cert, self.keyring)
                outcome = f"{cert.id}:{certificates.status(cert, now).value}"
                forged = f"{cert.id}:{LookupOutcome.TAMPERED}"
            recalled, counted = None, False
            try:
                wait, _, verdict, counted = self._trip(
                    code, now, outcome=outcome, forged=forged, prefix=cert is None, check=check
                )
            except RedisError:
                log.warning("verification lookup not counted (Redis)")
            else:
                if wait:
                    return Answer(wait)
                recalled = {check: None if verdict is None else verdict == b"1"}
            facts = verification.facts_of(db, self.keyring, code, cert, recalled)
        found = cert.id if cert is not None else None
        kept = replace(facts, certificate=None, slow=False)
        seen = Seen(kept, found, generation or "", time.monotonic() + self.remember)
        if not counted and generation is not None:  # the verdict was not remembered: now
            try:
                self._trip(code, now, outcome=seen.outcome)
            except RedisError:
                log.warning("verification lookup not counted (Redis)")
        if generation is not None:  # read under a known generation: worth remembering
            with self._lock:
                self._seen.pop(code, None)
                if len(self._seen) >= REMEMBERED:
                    self._seen.pop(next(iter(self._seen)))
                self._seen[code] = seen
        return Answer(0, seen, facts.slow)

    def _trip(
        self,
        code: str,
        now: datetime,
        address: str = "",
        expect: str = "",
        outcome: str = "",
        forged: str = "",
        prefix: bool = False,
        check: str = "",
    ) -> tuple[int, str, bytes | None, bool]:
        minute = now.strftime(_FORMAT)
        wait, generation, verdict, counted = self._view(
            keys=[
                keys.verify_by_address(address),
                keys.verify_by_prefix(code[:PREFIX_LENGTH]),
                keys.verify_lookups(minute),
                keys.verify_lookup_buckets(),
                keys.verify_generation(),
                check or keys.verify_generation(),
            ],
            args=[
                ADDRESS_LIMIT if address else 0,
                PREFIX_LIMIT if prefix else 0,
                WINDOW,
                expect,
                outcome,
                forged,
                minute,
                KEEP,
                "1" if check else "0",
            ],
        )
        generation = generation.decode() if isinstance(generation, bytes) else str(generation)
        return max(0, int(wait)), generation, verdict, bool(counted)


def certificates_changed(redis: Redis) -> None:
    """Tell every worker that certificates or diplomas changed: their remembered answers of the
    verification page are read again. A new random generation, not a counter: after a failover
    that lost the newest raise, a counter could come back to a value some worker still remembers
    answers under."""
    redis.set(keys.verify_generation(), secrets.token_hex(8))


def track_certificate_changes(sessions: sessionmaker, bump: Callable[[], None]) -> None:
    """Set a new certificates' generation (`bump`) after every commit of a session of `sessions`
    that changed a certificate or a diploma, through the ORM or a bulk statement (an import). A
    rollback keeps the mark (a savepoint's rollback fires the same event as the transaction's):
    at worst a later commit of that session sets a new generation once more than needed."""
    watched = {Certificate.__table__, Diploma.__table__}

    @event.listens_for(sessions, "after_flush")
    def _note_flush(session: Session, _context) -> None:
        if any(
            isinstance(obj, Certificate | Diploma)
            for obj in (*session.new, *session.dirty, *session.deleted)
        ):
            session.info[CHANGED] = True

    @event.listens_for(sessions, "do_orm_execute")
    def _note_statement(state) -> None:
        if (state.is_update or state.is_delete or state.is_insert) and getattr(
            state.statement, "table", None
        ) in watched:
            state.session.info[CHANGED] = True

    @event.listens_for(sessions, "after_commit")
    def _bump(session: Session) -> None:
        if session.info.pop(CHANGED, False):
            try:
                bump()
            except Exception:  # Redis away: remembered answers age out within REMEMBER seconds
                log.warning("could not tell the workers that certificates changed")


def write_counts(redis: Redis, db: Session, now: datetime) -> int:
    """Write the buckets of the minutes before `now` as rows in `db` (committed by the caller);
    the number of lookups written."""
    current = now.strftime(_FORMAT)
    take = redis.register_script(_TAKE)
    rows = []
    for raw in sorted(redis.smembers(keys.verify_lookup_buckets())):
        minute = raw.decode()
        if minute >= current:
            continue
        at = datetime.strptime(minute, _FORMAT).replace(tzinfo=UTC)
        counts = take(
            keys=[keys.verify_lookups(minute), keys.verify_lookup_buckets()], args=[minute]
        )
        for name, n in zip(counts[::2], counts[1::2], strict=True):
            found, _, outcome = name.decode().partition(":")
            row = {
                "at": at,
                "certificate_id": int(found) or None,
                "outcome": LookupOutcome(outcome),
            }
            rows.extend([row] * int(n))
    if rows:
        db.execute(insert(VerificationLookup), rows)
    return len(rows)
