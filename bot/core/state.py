"""Conversation state in Redis: versioned, compare-and-set, with an idle TTL.

Every key of one user carries the same hash tag (bot.core.keys) so that the multi-key Lua
scripts below also run on Redis Cluster. Redis holds only what may expire.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from enum import StrEnum

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.core import keys
from bot.core.errors import StaleState
from bot.core.messages import Reply
from bot.platform.replay import NONCE_TTL

PENDING = "~pending"
RECOVERABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
_log = logging.getLogger(__name__)
ACTING_TTL = 86400


class FlowStep(StrEnum):
    """Base for each flow's step enum: the stored value is the lower-case member name."""

    @staticmethod
    def _generate_next_value_(name, start, count, last_values):  # noqa: D102
        return name.lower()


@dataclass(frozen=True)
class Conversation:
    """Where one user is in which flow, with that flow's collected answers."""

    flow: str = "menu"
    step: str = "start"
    data: dict = field(default_factory=dict)
    version: int = 0
    acting_for: int | None = None  # proxy: the student this account acts for, if any

    def at(self, flow: str, step: FlowStep | str, **data) -> Conversation:
        """The same conversation moved to `flow:step` with `data` replacing the flow's data."""
        return replace(self, flow=flow, step=str(getattr(step, "value", step)), data=data)

    def home(self) -> Conversation:
        """Back at the menu with nothing collected, still acting for whom it acted for."""
        return Conversation(version=self.version, acting_for=self.acting_for)

    def then(self, step: FlowStep | str, **changes) -> Conversation:
        """The next step of the same flow, keeping the data collected so far (plus `changes`)."""
        return replace(self, step=str(getattr(step, "value", step)), data={**self.data, **changes})

    def with_data(self, **changes) -> Conversation:
        """The same step with some data fields changed."""
        return replace(self, data={**self.data, **changes})

    @property
    def at_rest(self) -> bool:
        """At the main menu with nothing collected (perhaps acting for a graduate)."""
        return self.flow == "menu" and not self.data

    @property
    def idle(self) -> bool:
        """True at the main menu with nothing collected: nothing is lost if it expires."""
        return self.at_rest and self.acting_for is None

    def ttl(self, idle_ttl: int) -> int:
        """How long the state is kept: a proxy resting at the menu keeps acting for a day (it is
        re-checked on every message); anything half-filled goes after `idle_ttl` of silence."""
        return ACTING_TTL if self.at_rest and self.acting_for is not None else idle_ttl

    def dumps(self) -> str:
        """JSON for storage (the version is stored beside it)."""
        return json.dumps(
            {
                "flow": self.flow,
                "step": self.step,
                "data": self.data,
                "acting_for": self.acting_for,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, body: str, version: int) -> Conversation:
        """Inverse of `dumps`."""
        raw = json.loads(body)
        return cls(raw["flow"], raw["step"], raw.get("data") or {}, version, raw.get("acting_for"))


_COMMIT = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if cur ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'body', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[6]) end
if ARGV[7] == '1' then redis.call('SET', KEYS[3], '1', 'EX', ARGV[8])
else redis.call('DEL', KEYS[3]) end
if ARGV[10] ~= '' and (redis.call('HGET', KEYS[4], 'gen') or '0') == ARGV[10] then
  redis.call('HSET', KEYS[4], 'id', ARGV[11], 'bound', ARGV[12])
  redis.call('EXPIRE', KEYS[4], ARGV[13])
end
if KEYS[5] and redis.call('GET', KEYS[5]) == ARGV[9] then redis.call('DEL', KEYS[5]) end
return 1
"""

# One round trip before the step: the callback's nonce (a nonce may carry one body only), the
# delivery claim (a short lease), the user's lock (a short lease) and what the step reads: the
# state, whether a form expired, and the cached profile. A retry of an answered message ends here.
_BEGIN = """
if ARGV[1] ~= '' and not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  local seen = redis.call('GET', KEYS[1])
  if seen and seen ~= ARGV[1] then return {-1} end
end
if not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  return {0, redis.call('GET', KEYS[2]) or false}
end
if not redis.call('SET', KEYS[3], ARGV[5], 'NX', 'PX', ARGV[4]) then return {2} end
local state = redis.call('HMGET', KEYS[4], 'v', 'body')
local who = redis.call('HMGET', KEYS[6], 'gen', 'id', 'bound')
return {1, state[1] or false, state[2] or false, redis.call('EXISTS', KEYS[5]),
        who[1] or false, who[2] or false, who[3] or false}
"""

_ACQUIRE_AND_LOAD = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
local state = redis.call('HMGET', KEYS[2], 'v', 'body')
local who = redis.call('HMGET', KEYS[4], 'gen', 'id', 'bound')
return {1, state[1] or false, state[2] or false, redis.call('EXISTS', KEYS[3]),
        who[1] or false, who[2] or false, who[3] or false}
"""

# Leases live while their holder does: the lock while it holds our token, the claim while pending.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
"""

_FORGET_PROFILE = """
redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HDEL', KEYS[1], 'id', 'bound')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

_DELETE_UNLESS_PENDING = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

PROFILE_TTL = 3600  # a cached profile is re-read from SQL at least hourly (last_seen_at with it)
PROFILE_GEN_TTL = 7 * 86400  # how long an invalidation is remembered


@dataclass(frozen=True)
class Profile:
    """What routing and the menu need to know about a sender, cached beside the state so that a
    message at the menu needs no SQL: the account id and the masked name of the bound graduate
    ('' when unbound). Never more: anything that shows a record reads SQL."""

    account_id: int
    bound_name: str = ""


@dataclass(frozen=True)
class Loaded:
    """What the step starts from: the state, whether a form expired, the cached profile (None
    when it must be read from SQL) and the profile's generation, for the write-through."""

    conversation: Conversation
    expired: bool
    profile: Profile | None
    profile_gen: str
    # no state, no expiry marker and no profile key at all: a new user, or Redis lost its data
    blank: bool = False


class Begun(StrEnum):
    """How `RedisStorage.begin` went."""

    REPLAYED = "replayed"  # the nonce came with another body
    RETRY = "retry"  # the message was claimed before: `cached` holds its replies (or None)
    LOCK_BUSY = "lock_busy"  # claimed, but another message of this user holds the lock
    READY = "ready"  # claimed and locked: `loaded` holds the state


@dataclass(frozen=True)
class Beginning:
    """The answer of `RedisStorage.begin`."""

    outcome: Begun
    loaded: Loaded | None = None
    cached: list[Reply] | None = None
    pending: bool = False  # RETRY: the first delivery is still being processed


def _loaded(version, body, active, gen, account_id, bound) -> Loaded:
    if body:
        conv, expired = Conversation.loads(body.decode(), int(version)), False
    else:
        conv, expired = Conversation(), bool(active)
    profile = Profile(int(account_id), bound.decode() if bound else "") if account_id else None
    blank = not body and not active and not gen and not account_id
    return Loaded(conv, expired, profile, gen.decode() if gen else "0", blank)


_THREAD_CONNECTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class OneTrip:
    """A Lua script of the per-message path, called with the least client work: one EVALSHA packed
    and sent on a connection this thread keeps (made by the client's pool, so it has the client's
    settings and follows a Sentinel failover), its answer read back: about 30 µs of CPU, where
    the client's command layer and pool checkout take 100. Anything but the plain case (the server
    does not know the script yet, a connection dropped, a failover under way) goes through the
    registered script, which loads it and retries as the client is configured to."""

    def __init__(self, redis: Redis, source: str) -> None:
        self.script = redis.register_script(source)
        self.pool = redis.connection_pool
        # one connection per thread and client, whatever the number of scripts
        self.local = _THREAD_CONNECTIONS.setdefault(self.pool, threading.local())

    def __call__(self, keys: list, args: list):
        conn = getattr(self.local, "conn", None)
        if conn is None or conn.pid != os.getpid():  # first call on this thread, or a fork
            conn = self.local.conn = self.pool.make_connection()
        try:
            # connected here, not by the send: only `connect` asks Sentinel for the primary (a
            # connection the send opens itself goes to the default host)
            conn.connect()
            conn.send_packed_command(
                conn.pack_command("EVALSHA", self.script.sha, len(keys), *keys, *args)
            )
            return conn.read_response()
        except NoScriptError:
            pass
        except RECOVERABLE:  # dropped or failing over: the client's own retries take it
            self._drop(conn)
        except BaseException:  # half an answer may be on the wire: never use this one again
            self._drop(conn)
            raise
        return self.script(keys=keys, args=args)

    def _drop(self, conn) -> None:
        conn.disconnect()
        self.local.conn = None


class RedisStorage:
    """State, per-user lock, retry cache and effect claims of conversations."""

    def __init__(
        self,
        redis: Redis,
        *,
        idle_ttl: int = 1800,
        reply_ttl: int = 3600,
        pending_ttl: int = 60,
        lock_ttl_ms: int = 60_000,
        lease_ms: int = 5_000,
    ) -> None:
        self.redis = redis
        self.idle_ttl = idle_ttl
        self.reply_ttl = reply_ttl
        self.pending_ttl = pending_ttl  # `claim` (API chat); the engine's claims are leases
        self.lock_ttl_ms = lock_ttl_ms  # `acquire` (API); the engine's locks are leases
        self.lease_ms = lease_ms
        self._commit = OneTrip(redis, _COMMIT)
        self._release = redis.register_script(_RELEASE)
        self._delete_unless_pending = redis.register_script(_DELETE_UNLESS_PENDING)
        self._acquire_and_load = redis.register_script(_ACQUIRE_AND_LOAD)
        self._begin = OneTrip(redis, _BEGIN)
        self._renew = redis.register_script(_RENEW)
        self._forget_profile = redis.register_script(_FORGET_PROFILE)
        self.leases = Leases(self)

    # -- state -----------------------------------------------------------------
    def load(self, tag: str) -> tuple[Conversation, bool]:
        """The user's conversation, and whether an unfinished one expired since last time."""
        raw = self.redis.hgetall(keys.state(tag))
        if raw.get(b"body"):
            return Conversation.loads(raw[b"body"].decode(), int(raw[b"v"])), False
        expired = bool(self.redis.exists(keys.active(tag)))
        return Conversation(), expired

    def set_state(self, tag: str, conv: Conversation) -> Conversation:
        """Write a conversation unconditionally (tests, admin tools); returns it with its version."""
        self.redis.hset(keys.state(tag), mapping={"v": conv.version, "body": conv.dumps()})
        self.redis.expire(keys.state(tag), self.idle_ttl)
        return conv

    def commit(
        self,
        tag: str,
        conv: Conversation,
        expected_version: int,
        msg_id: str,
        replies: list[Reply],
        release_token: str | None = None,
        profile: Profile | None = None,
        profile_gen: str = "",
    ) -> Conversation:
        """Compare-and-set the new state and cache the replies for retries, atomically; with
        `release_token`, the user's lock is released in the same round trip; with `profile`, the
        profile read from SQL is cached, unless it was invalidated since `profile_gen` was read."""
        new = replace(conv, version=expected_version + 1)
        cached = json.dumps([r.to_dict() for r in replies], ensure_ascii=False) if msg_id else ""
        names = [keys.state(tag), keys.message(tag, msg_id), keys.active(tag), keys.profile(tag)]
        if release_token:
            names.append(keys.lock(tag))
        ok = self._commit(
            keys=names,
            args=[
                expected_version,
                new.version,
                new.dumps(),
                new.ttl(self.idle_ttl),
                cached,
                self.reply_ttl,
                "0" if new.at_rest else "1",
                7 * 86400,
                release_token or "",
                profile_gen if profile is not None else "",
                profile.account_id if profile is not None else "",
                profile.bound_name if profile is not None else "",
                PROFILE_TTL,
            ],
        )
        if not ok:
            raise StaleState(tag)
        return new

    def forget_profile(self, tag: str) -> None:
        """Drop the cached profile and make any read in flight unable to cache what it read
        (bindings or the account changed)."""
        self._forget_profile(keys=[keys.profile(tag)], args=[PROFILE_GEN_TTL])

    def clear(self, tag: str, keep_msg_id: str | None = None) -> None:
        """Forget this user's conversation and the replies cached for retries, which may show their
        record (删除我的信息); the reply to `keep_msg_id` stays, so that a retry of the message
        that asked is answered the same and not run again."""
        # the profile goes, its generation stays: a read in flight cannot cache it again, and the
        # next message is not mistaken for one whose conversation Redis lost
        self.redis.delete(keys.state(tag), keys.active(tag), keys.lock(tag))
        self.forget_profile(tag)
        keep = keys.message(tag, keep_msg_id).encode() if keep_msg_id else None
        for key in self.redis.scan_iter(match=keys.user_pattern(tag, "msg"), count=500):
            if (
                key != keep
            ):  # a message still being processed keeps its claim (its retry must not run it twice)
                self._delete_unless_pending(keys=[key], args=[PENDING])

    # -- per-user lock ---------------------------------------------------------
    def acquire(self, tag: str, token: str, wait_until: float) -> bool:
        """Take the user's lock, polling until `wait_until` (epoch seconds)."""
        key = keys.lock(tag)
        delay = 0.002
        while True:
            if self.redis.set(key, token, nx=True, px=self.lock_ttl_ms):
                return True
            if time.time() >= wait_until:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def acquire_and_load(self, tag: str, token: str, wait_until: float) -> Loaded | None:
        """Take the lock (a lease) and read what the step needs in one round trip, polling until
        `wait_until`; None when the lock stayed taken."""
        names = [keys.lock(tag), keys.state(tag), keys.active(tag), keys.profile(tag)]
        delay = 0.002
        while True:
            got = self._acquire_and_load(keys=names, args=[token, self.lease_ms])
            if got[0]:
                return _loaded(*got[1:])
            if time.time() >= wait_until:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def begin(
        self, tag: str, msg_id: str, token: str, nonce_key: str = "", body_digest: str = ""
    ) -> Beginning:
        """Nonce check, delivery claim, lock and load in one round trip (see `_BEGIN`)."""
        got = self._begin(
            keys=[
                nonce_key or keys.message(tag, msg_id),  # unused without a digest
                keys.message(tag, msg_id),
                keys.lock(tag),
                keys.state(tag),
                keys.active(tag),
                keys.profile(tag),
            ],
            args=[body_digest, NONCE_TTL, PENDING, self.lease_ms, token],
        )
        if got[0] == -1:
            return Beginning(Begun.REPLAYED)
        if got[0] == 0:
            raw = got[1]
            if raw is None or raw == PENDING.encode():
                return Beginning(Begun.RETRY, pending=raw is not None)
            return Beginning(Begun.RETRY, cached=[Reply.from_dict(d) for d in json.loads(raw)])
        if got[0] == 2:
            return Beginning(Begun.LOCK_BUSY)
        return Beginning(Begun.READY, loaded=_loaded(*got[1:]))

    def data_since(self) -> float:
        """When Redis' data began (epoch seconds): set now when the marker is missing, which means
        Redis lost its data (or never had any)."""
        now = time.time()
        if self.redis.set(keys.epoch(), repr(now), nx=True):
            return now
        return float(self.redis.get(keys.epoch()) or now)

    def renew(self, tag: str, msg_id: str, token: str) -> None:
        """Extend the lock (ours) and the claim (still pending) of a message being processed."""
        self._renew(
            keys=[keys.lock(tag), keys.message(tag, msg_id)],
            args=[token, PENDING, self.lease_ms],
        )

    def release(self, tag: str, token: str) -> None:
        """Release the lock only if we still own it."""
        self._release(keys=[keys.lock(tag)], args=[token])

    # -- delivery dedup --------------------------------------------------------
    def claim(self, tag: str, msg_id: str) -> bool:
        """True for the first delivery of a message; retries get False."""
        return bool(
            self.redis.set(keys.message(tag, msg_id), PENDING, nx=True, ex=self.pending_ttl)
        )

    def unclaim(self, tag: str, msg_id: str) -> None:
        """Let a later retry process the message again (the first attempt failed)."""
        self.redis.delete(keys.message(tag, msg_id))

    def cached_replies(self, tag: str, msg_id: str, wait_until: float) -> list[Reply] | None:
        """The replies of the first delivery, waiting for them until `wait_until`; None when they
        were not ready, or when the claim lapsed (its holder died: the caller may claim again)."""
        key = keys.message(tag, msg_id)
        while True:
            raw = self.redis.get(key)
            if raw is not None and raw.decode() != PENDING:
                return [Reply.from_dict(d) for d in json.loads(raw)]
            if raw is None or time.time() >= wait_until:
                return None
            time.sleep(0.02)

    def peek_replies(self, tag: str, msg_id: str) -> tuple[bool, list[Reply] | None]:
        """(known, replies) of a message without waiting: replies are None while it is processed."""
        raw = self.redis.get(keys.message(tag, msg_id))
        if raw is None:
            return False, None
        if raw.decode() == PENDING:
            return True, None
        return True, [Reply.from_dict(d) for d in json.loads(raw)]

    def claim_effect(self, tag: str, msg_id: str, effect: str) -> bool:
        """True exactly once per (message, effect), whatever the number of deliveries."""
        return bool(self.redis.set(keys.effect(tag, msg_id, effect), "1", nx=True, ex=86400))


def forget_profiles(redis: Redis, tags: list[str]) -> None:
    """Invalidate the cached profiles of these users (see `RedisStorage.forget_profile`)."""
    pipe = redis.pipeline(transaction=False)
    for tag in tags:
        key = keys.profile(tag)
        pipe.hincrby(key, "gen", 1)
        pipe.hdel(key, "id", "bound")
        pipe.expire(key, PROFILE_GEN_TTL)
    pipe.execute()


class Leases:
    """Keeps the leases (lock and claim) of the messages this process is working on alive: one
    daemon thread renews them every third of a lease. When the process dies, nobody renews them,
    so a retry can take the message over within one lease (WeChat retries after 5, 10, 15 s)."""

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = storage
        self.held: dict[str, tuple[str, str, str]] = {}
        self.guard = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def hold(self, tag: str, msg_id: str, token: str) -> None:
        """Renew this message's lock and claim until `drop`."""
        with self.guard:
            self.held[token] = (tag, msg_id, token)
            if self.thread is None or self.pid != os.getpid():  # started after a fork
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._run, name="leases", daemon=True)
                self.thread.start()

    def drop(self, token: str) -> None:
        """Stop renewing (the message is committed, or given up)."""
        with self.guard:
            self.held.pop(token, None)

    def _run(self) -> None:
        while True:
            time.sleep(self.storage.lease_ms / 3000)
            with self.guard:
                held = list(self.held.values())
                if not held:  # idle: the next `hold` starts another thread
                    self.thread = None
                    return
            for tag, msg_id, token in held:
                try:
                    self.storage.renew(tag, msg_id, token)
                except Exception:  # Redis away: the leases lapse, which is what they are for
                    _log.warning("could not renew a lease")
