"""SMS one-time codes: six digits from `secrets`, kept in Redis only as HMAC-SM3, with every limit
the college asked for.

- a code lives 5 minutes, is single use, and dies after 5 wrong tries
- 10 wrong codes in a row (across codes: a new code does not reset the count) lock sending for 1 h
- resend cooldown 60 s per account; per phone at most 1 a minute, 5 an hour, 10 a day
- a code that confirms a proxy request goes to the graduate's phone on another account's asking,
  so it has its own budget (`PROXY`): at most 3 a day per graduate's phone, 3 a day per requesting
  account; it never counts against the phone's own budget (`OWN`), so requests by strangers cannot
  keep a graduate from their own codes
- a send the provider failed is refunded (`refund`), so it does not count against the user
"""

from __future__ import annotations

import hmac as std_hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis

from bot.core import keys
from bot.platform.crypto import hmac_sm3
from bot.platform.ratelimit import take_all

CODE_TTL = 300
MAX_TRIES = 5
LOCK_AFTER = 10
LOCK_SECONDS = 3600
COOLDOWN = 60
PHONE_LIMITS = ((60, 1), (3600, 5), (86400, 10))  # (window seconds, sends)

_REFUND = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 1
"""


class Refusal(StrEnum):
    """Why a code was not sent; each has its own reply (templates/replies/otp/<value>.txt)."""

    LOCKED = "locked"
    COOLDOWN = "cooldown"
    PHONE_MINUTE = "phone_minute"
    PHONE_HOUR = "phone_hour"
    PHONE_DAY = "phone_day"
    PROXY_GRADUATE = "proxy_graduate"  # the graduate's phone got enough proxy codes today
    PROXY_REQUESTER = "proxy_requester"  # this account asked for enough proxy codes today


@dataclass(frozen=True)
class Limit:
    """At most `sends` in `window` seconds, counted per phone or per requesting account."""

    window: int
    sends: int
    refusal: Refusal
    per: str = "phone"  # or "account"


@dataclass(frozen=True)
class Budget:
    """The counters one purpose of code spends (their keys carry the budget's name)."""

    name: str
    limits: tuple[Limit, ...]


OWN = Budget(
    "sent",
    tuple(
        Limit(window, sends, refusal)
        for (window, sends), refusal in zip(
            PHONE_LIMITS,
            (Refusal.PHONE_MINUTE, Refusal.PHONE_HOUR, Refusal.PHONE_DAY),
            strict=True,
        )
    ),
)
PROXY = Budget(
    "proxy",
    (
        Limit(60, 1, Refusal.PHONE_MINUTE),
        Limit(86400, 3, Refusal.PROXY_GRADUATE),
        Limit(86400, 3, Refusal.PROXY_REQUESTER, per="account"),
    ),
)


class Check(StrEnum):
    """The result of checking a code."""

    OK = "ok"
    WRONG = "wrong"
    DEAD = "dead"  # the 5th wrong try killed it
    EXPIRED = "expired"  # none outstanding (expired, used, or never sent)
    LOCKED = "locked"


@dataclass(frozen=True)
class Issued:
    code: str | None = None
    refusal: Refusal | None = None
    wait: int = 0  # seconds, with a refusal


@dataclass(frozen=True)
class Verdict:
    check: Check
    tries_left: int = 0
    wait: int = 0


def subject(purpose: str, student_id: int, phone_index: str) -> str:
    """What a code proves: this purpose, this student, this phone. The code's digest covers it, so
    a code sent for one student can never confirm another, whatever the conversation says."""
    return f"{purpose}:{student_id}:{phone_index[:24]}"


class OtpService:
    """Issue and check codes for one account (its Redis hash tag) and one phone (its blind index)."""

    def __init__(self, redis: Redis, secret: bytes) -> None:
        self.redis = redis
        self.secret = secret
        self._refund = redis.register_script(_REFUND)

    # keys: the account's carry its hash tag, the phone's carry the phone's blind index
    def _k(self, tag: str, part: str) -> str:
        return keys.otp(tag, part)

    def _budget_keys(self, budget: Budget, tag: str, phone_index: str) -> list[str]:
        return [
            keys.phone_sent(phone_index, limit.window, budget.name)
            if limit.per == "phone"
            else keys.otp(tag, f"{budget.name}:{limit.window}")
            for limit in budget.limits
        ]

    def _digest(self, tag: str, purpose: str, code: str) -> str:
        return hmac_sm3(self.secret, f"{tag}|{purpose}|{code}".encode()).hex()

    def issue(self, tag: str, phone_index: str, purpose: str, budget: Budget = OWN) -> Issued:
        """A new code for `purpose`, spent from `budget`, or why not (with the seconds to wait)."""
        locked = self.redis.ttl(self._k(tag, "lock"))
        if locked > 0:
            return Issued(refusal=Refusal.LOCKED, wait=locked)
        cooling = self.redis.ttl(self._k(tag, "cool"))
        if cooling > 0:
            return Issued(refusal=Refusal.COOLDOWN, wait=cooling)
        counters = zip(self._budget_keys(budget, tag, phone_index), budget.limits, strict=True)
        which, wait = take_all(self.redis, [(key, lim.sends, lim.window) for key, lim in counters])
        if which:
            return Issued(refusal=budget.limits[which - 1].refusal, wait=wait)
        code = f"{secrets.randbelow(10**6):06d}"
        pipe = self.redis.pipeline()
        pipe.delete(self._k(tag, "code"))
        pipe.hset(
            self._k(tag, "code"),
            mapping={"digest": self._digest(tag, purpose, code), "tries": MAX_TRIES},
        )
        pipe.expire(self._k(tag, "code"), CODE_TTL)
        pipe.set(self._k(tag, "cool"), "1", ex=COOLDOWN)
        pipe.execute()
        return Issued(code=code)

    def refund(self, tag: str, phone_index: str, budget: Budget = OWN) -> None:
        """Undo the counting of a send the provider failed, and allow an immediate retry."""
        self._refund(keys=self._budget_keys(budget, tag, phone_index), args=[])
        self.redis.delete(self._k(tag, "cool"), self._k(tag, "code"))

    def verify(self, tag: str, purpose: str, candidate: str) -> Verdict:
        """Check a code; wrong tries count against the code and the account."""
        locked = self.redis.ttl(self._k(tag, "lock"))
        if locked > 0:
            return Verdict(Check.LOCKED, wait=locked)
        stored = self.redis.hgetall(self._k(tag, "code"))
        if not stored:
            return Verdict(Check.EXPIRED)
        tries = int(stored[b"tries"])
        if tries <= 0:
            return Verdict(Check.DEAD)
        if std_hmac.compare_digest(
            stored[b"digest"].decode(), self._digest(tag, purpose, candidate)
        ):
            self.redis.delete(self._k(tag, "code"), self._k(tag, "fails"))
            return Verdict(Check.OK)
        left = self.redis.hincrby(self._k(tag, "code"), "tries", -1)
        fails = self.redis.incr(self._k(tag, "fails"))
        self.redis.expire(self._k(tag, "fails"), LOCK_SECONDS)
        if fails >= LOCK_AFTER:
            self.redis.set(self._k(tag, "lock"), "1", ex=LOCK_SECONDS)
            self.redis.delete(self._k(tag, "code"), self._k(tag, "fails"))
            return Verdict(Check.LOCKED, wait=LOCK_SECONDS)
        if left <= 0:
            return Verdict(Check.DEAD)
        return Verdict(Check.WRONG, tries_left=left)

    def forget(self, tag: str) -> None:
        """Remove the account's code in flight (删除我的信息); the cooldown, the count of wrong codes
        and a lock stay until they expire, so that deleting cannot reset the limits."""
        self.redis.delete(self._k(tag, "code"))
