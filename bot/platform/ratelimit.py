"""Fixed-window counters in Redis: `hit` counts an attempt, `retry_after` says how long to wait,
`take_all` counts one attempt against several limits at once, or none."""

from __future__ import annotations

from redis import Redis

from bot.core.state import OneTrip

_HIT = """
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c >= tonumber(ARGV[1]) then return redis.call('TTL', KEYS[1]) end
c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# all or nothing: KEYS are counters, ARGV their limits then their windows; {0, 0} when counted,
# else {i, ttl} of the first full one
TAKE_ALL = """
local n = #KEYS
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c >= tonumber(ARGV[i]) then return {i, redis.call('TTL', KEYS[i])} end
end
for i = 1, n do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[n + i]) end
end
return {0, 0}
"""


def take_all(redis: Redis, limits: list[tuple[str, int, int]]) -> tuple[int, int]:
    """Count one attempt on every (key, limit, window), atomically, only if none is full: (0, 0)
    when counted, else (1-based index of the first full one, seconds until its window ends). The
    check and the count are one step, so concurrent attempts can never pass a limit together."""
    which, ttl = redis.register_script(TAKE_ALL)(
        keys=[key for key, _, _ in limits],
        args=[*(limit for _, limit, _ in limits), *(window for _, _, window in limits)],
    )
    return int(which), max(1, int(ttl)) if which else 0


class RateLimit:
    """At most `limit` hits per `window` seconds per key."""

    def __init__(self, redis: Redis, limit: int, window: int) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window
        self._hit = OneTrip(redis, _HIT)

    def hit(self, key: str) -> int:
        """Count one attempt; 0 when allowed, else the seconds until the window ends."""
        return max(0, int(self._hit(keys=[key], args=[self.limit, self.window])))

    def retry_after(self, key: str) -> int:
        """0 when another attempt would be allowed, else the seconds to wait (counts nothing)."""
        if int(self.redis.get(key) or 0) < self.limit:
            return 0
        return max(1, int(self.redis.ttl(key)))
