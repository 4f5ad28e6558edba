"""Sessions of mini-program users: our own opaque bearer tokens, kept in Redis under the token's
SHA-256 (a Redis dump holds no usable token), with a sliding expiry and an absolute limit, and
revocable. A phone number the channel proved is remembered for a few minutes as its blind index
only, never the number itself."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

from redis import Redis

from bot.core import keys
from bot.core.messages import Inbound, MessageKind

MAX_AGE = 7 * 86400  # a session ends a week after login, however busy
PHONE_PROOF_SECONDS = 600
# HSET only while the session exists (HSET keeps its TTL): a logout during the phone proof must not
# bring the key back without created_at and without expiry.
_HSET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


@dataclass(frozen=True)
class MiniSession:
    """A logged-in mini-program user."""

    key: str  # the Redis key (carries the token's digest, not the token)
    account_id: int
    channel: str  # "wxa" or "alipay"
    app_id: str
    user_key: str
    created_at: float
    phone_index: str | None = None
    phone_masked: str | None = None
    phone_until: float = 0.0

    @property
    def tag(self) -> str:
        """The user's Redis hash tag, the same as the engine's for this account."""
        return self.inbound("tag").user_tag

    @property
    def proven_phone_index(self) -> str | None:
        """The blind index of a phone the channel proved in the last few minutes."""
        return self.phone_index if self.phone_index and self.phone_until > time.time() else None

    def inbound(self, msg_id: str | None = None, text: str = "") -> Inbound:
        """This user as a message's sender (a request id when there is no message id)."""
        kind = MessageKind.TEXT if text else MessageKind.OTHER
        return Inbound(
            self.channel,
            self.app_id,
            self.user_key,
            msg_id or f"api:{uuid.uuid4().hex}",
            kind,
            text,
        )


class SessionStore:
    """Create, look up (sliding the expiry), and revoke sessions."""

    def __init__(self, redis: Redis, ttl: int = 7200) -> None:
        self.redis = redis
        self.ttl = ttl
        self._hset_if_exists = redis.register_script(_HSET_IF_EXISTS)

    @staticmethod
    def _key(token: str) -> str:
        return keys.mini_session(token)

    @staticmethod
    def _index(tag: str) -> str:
        return keys.mini_sessions(tag)

    def create(self, account_id: int, channel: str, app_id: str, user_key: str) -> str:
        """A new token for this account (listed under the user, so that all can be revoked at once)."""
        token = secrets.token_urlsafe(32)
        key = self._key(token)
        index = self._index(Inbound(channel, app_id, user_key, "-", MessageKind.OTHER).user_tag)
        pipe = self.redis.pipeline(transaction=False)  # the keys live in different hash slots
        pipe.hset(
            key,
            mapping={
                "account_id": account_id,
                "channel": channel,
                "app_id": app_id,
                "user_key": user_key,
                "created_at": time.time(),
            },
        )
        pipe.expire(key, self.ttl)
        pipe.sadd(index, key)
        pipe.expire(index, MAX_AGE)
        pipe.execute()
        return token

    def load(self, token: str) -> MiniSession | None:
        """The session of a token, its expiry moved on; None when unknown, expired or too old."""
        if not token or len(token) > 128:
            return None
        key = self._key(token)
        raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(key).items()}
        if "created_at" not in raw:  # unknown, or a stray hash that is no session
            if raw:
                self.redis.delete(key)
            return None
        created = float(raw["created_at"])
        if created + MAX_AGE < time.time():
            self.redis.delete(key)
            return None
        self.redis.expire(key, self.ttl)
        return MiniSession(
            key,
            int(raw["account_id"]),
            raw["channel"],
            raw["app_id"],
            raw["user_key"],
            created,
            raw.get("phone_index"),
            raw.get("phone_masked"),
            float(raw.get("phone_until") or 0),
        )

    def revoke(self, session: MiniSession) -> None:
        """Log out: the token stops working at once."""
        self.redis.delete(session.key)
        self.redis.srem(self._index(session.tag), session.key)

    def revoke_all(self, tag: str) -> None:
        """End every session of the user (删除我的信息)."""
        index = self._index(tag)
        pipe = self.redis.pipeline(transaction=False)  # the keys live in different hash slots
        for key in self.redis.smembers(
            index
        ):  # one key per DEL: the sessions are not in the user's slot
            pipe.delete(key)
        pipe.delete(index)
        pipe.execute()

    def remember_phone(self, session: MiniSession, phone_index: str, phone_masked: str) -> int:
        """Keep a proven phone's blind index for a few minutes; returns the seconds (0 when the
        session ended meanwhile: nothing is written then)."""
        fields = [
            "phone_index",
            phone_index,
            "phone_masked",
            phone_masked,
            "phone_until",
            time.time() + PHONE_PROOF_SECONDS,
        ]
        written = self._hset_if_exists(keys=[session.key], args=fields)
        return PHONE_PROOF_SECONDS if written else 0
