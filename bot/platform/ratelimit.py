"""Fixed-window counters in Redis: `hit` counts an attempt, `retry_after` says how long to wait."""

from __future__ import annotations

from redis import Redis

_HIT = """
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c >= tonumber(ARGV[1]) then return redis.call('TTL', KEYS[1]) end
c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RateLimit:
    """At most `limit` hits per `window` seconds per key."""

    def __init__(self, redis: Redis, limit: int, window: int) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window
        self._hit = redis.register_script(_HIT)

    def hit(self, key: str) -> int:
        """Count one attempt; 0 when allowed, else the seconds until the window ends."""
        return max(0, int(self._hit(keys=[key], args=[self.limit, self.window])))

    def retry_after(self, key: str) -> int:
        """0 when another attempt would be allowed, else the seconds to wait (counts nothing)."""
        if int(self.redis.get(key) or 0) < self.limit:
            return 0
        return max(1, int(self.redis.ttl(key)))
