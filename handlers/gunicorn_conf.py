"""gunicorn settings of the deploy kit (`gunicorn --config python:handlers.gunicorn_conf`):
no access log of gunicorn's own (the app writes one JSON line per request, with its request id
and without the query string, which may name a user), and Prometheus's multiprocess files of a
worker that exits are marked dead so that /metrics stops adding its gauges."""

from __future__ import annotations

import os

accesslog = None
# a worker that hangs this long is restarted (WeChat gave up long before)
timeout = 60
graceful_timeout = 30


def child_exit(server, worker) -> None:
    """A gunicorn worker ended: retire its live gauges from the multiprocess directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
