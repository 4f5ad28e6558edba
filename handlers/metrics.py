"""Prometheus metrics and `/metrics`.

Under gunicorn (several worker processes) and beside the RQ worker, every process writes its
counters to PROMETHEUS_MULTIPROC_DIR (the systemd units set it; gunicorn's `child_exit` hook in
handlers/gunicorn_conf.py marks dead workers) and `/metrics` adds them up. Queue depth and failed
jobs are read from Redis when scraped, so any host shows the whole deployment's queue.

`/metrics` answers loopback, the addresses and networks in GRADCERT_METRICS_ALLOW (the client
address honours TRUST_PROXY, so nginx on the same host does not open it to everybody) and
`Authorization: Bearer <GRADCERT_METRICS_TOKEN>`; anybody else gets a 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from bot.core.state import Begun, RedisStorage
from handlers.client_address import client_address
from handlers.current import runtime

REQUESTS = Counter(
    "gradcert_http_requests", "HTTP requests answered, by route and status", ["route", "status"]
)
LATENCY = Histogram(
    "gradcert_http_request_duration_seconds",
    "Time to answer, by route",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 5, 10),
)
DEADLINE_OVERRUNS = Counter(
    "gradcert_engine_deadline_overruns",
    "Messages whose replies missed the callback deadline and went out later",
)
LOCK_WAIT = Histogram(
    "gradcert_engine_lock_wait_seconds",
    "Time a message or an API call waited for its user's lock",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 25),
)
LOCK_TIMEOUTS = Counter(
    "gradcert_engine_lock_timeouts",
    "Messages and API calls that gave up waiting for their user's lock",
)
SMS = Counter(
    "gradcert_sms", "SMS codes handed to the provider, by outcome", ["provider", "outcome"]
)
JOBS_FAILED = Counter(
    "gradcert_job_failures", "Failed job attempts (retried or not), by function", ["function"]
)

bp = Blueprint("metrics", __name__)


class MeasuredStorage(RedisStorage):
    """The conversations' storage, timing how long a message (engine) or an API call (guard)
    waits for its user's lock."""

    def begin(self, tag: str, msg_id: str, token: str, nonce_key: str = "", body_digest: str = ""):
        """The usual message: the lock taken at once in the first round trip (a busy lock is timed
        by the wait that follows, in acquire_and_load)."""
        started = time.perf_counter()
        began = super().begin(tag, msg_id, token, nonce_key, body_digest)
        if began.outcome is Begun.READY:
            _waited(started, True)
        return began

    def acquire_and_load(self, tag: str, token: str, wait_until: float):
        started = time.perf_counter()
        loaded = super().acquire_and_load(tag, token, wait_until)
        _waited(started, loaded is not None)
        return loaded

    def acquire(self, tag: str, token: str, wait_until: float) -> bool:
        started = time.perf_counter()
        got = super().acquire(tag, token, wait_until)
        _waited(started, got)
        return got


def _waited(started: float, got: bool) -> None:
    LOCK_WAIT.observe(time.perf_counter() - started)
    if not got:
        LOCK_TIMEOUTS.inc()


class CountedSms:
    """An SMS provider whose sends and failures are counted under the provider's name."""

    def __init__(self, provider, name: str) -> None:
        self.provider = provider
        self.name = name

    def send_code(self, phone: str, code: str, minutes: int, for_proxy: bool = False) -> None:
        self._counted(self.provider.send_code, phone, code, minutes, for_proxy)

    def send_notice(self, phone: str, notice: str, params: list[str]) -> None:
        self._counted(self.provider.send_notice, phone, notice, params)

    def _counted(self, send: Callable, *args) -> None:
        try:
            send(*args)
        except Exception:
            SMS.labels(provider=self.name, outcome="failed").inc()
            raise
        SMS.labels(provider=self.name, outcome="sent").inc()

    def __getattr__(self, name: str):
        return getattr(self.provider, name)


def counting_overruns(deliver_later: Callable) -> Callable:
    """The engine's deliver_later hook, counting each message that missed its deadline."""

    def deliver(msg, replies):
        DEADLINE_OVERRUNS.inc()
        return deliver_later(msg, replies)

    return deliver


class QueueCollector:
    """Jobs waiting, running, scheduled for a retry and failed, read from Redis at scrape time."""

    def __init__(self, queue) -> None:
        self.queue = queue

    def collect(self):
        q = self.queue
        gauge = GaugeMetricFamily("gradcert_queue_jobs", "RQ jobs by state", labels=["state"])
        counts = {
            "queued": q.count,
            "started": StartedJobRegistry(queue=q).count,
            "scheduled": ScheduledJobRegistry(queue=q).count,
            "failed": FailedJobRegistry(queue=q).count,
        }
        for state, count in counts.items():
            gauge.add_metric([state], count)
        yield gauge


def exposition() -> bytes:
    """What /metrics shows: this process's metrics (every process's, in multiprocess mode), then
    the queue read from Redis."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    queue = CollectorRegistry()
    queue.register(QueueCollector(runtime().queue))
    return generate_latest(processes) + generate_latest(queue)


def allowed() -> bool:
    """Loopback, an address in GRADCERT_METRICS_ALLOW, or the bearer token."""
    token = str(current_app.config.get("GRADCERT_METRICS_TOKEN") or "")
    offered = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(client_address())
    except ValueError:
        return False
    if address.is_loopback:
        return True
    for entry in str(current_app.config.get("GRADCERT_METRICS_ALLOW") or "").split(","):
        if entry.strip():
            try:
                if address in ipaddress.ip_network(entry.strip(), strict=False):
                    return True
            except ValueError:
                continue
    return False


@bp.get("/metrics")
def metrics():
    """Prometheus text format, to those allowed."""
    if not allowed():
        abort(404)
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count and time every request by route and status (timed by the clock that
    `handlers.logs.init_app`, called first, starts); register /metrics."""

    series = {}  # (route, status): its counter and histogram (a bounded set: routes x statuses)

    @app.after_request
    def _count(response):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        started = g.get("request_started")  # the request's one clock (handlers.logs)
        mine = series.get((route, response.status_code))
        if mine is None:
            mine = series[route, response.status_code] = (
                REQUESTS.labels(route=route, status=str(response.status_code)),
                LATENCY.labels(route=route),
            )
        mine[0].inc()
        if started is not None:
            mine[1].observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)
