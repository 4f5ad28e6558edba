"""Log lines: JSON whenever the output is not a terminal (journald, files, containers), readable
text on a terminal, `GRADCERT_LOG_FORMAT=json|text` to force either. Times are UTC (ISO 8601, `Z`)
on every line, whatever the host's TZ. Every line written while a request (or a job queued by
one) is handled carries its request id: the caller's `X-Request-ID` when it is sane, else a new
one; it is sent back in the response and travels into RQ jobs (handlers/worker.py).

Personal data never goes into a log line: the request line names the route (`/v/<code>`), not
the path or the query string (WeChat's carries the openid).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar

from flask import Flask, g, request

request_id: ContextVar[str] = ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_TEXT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
log = logging.getLogger("gradcert.request")
SLOW = 1.0  # seconds: a request this slow is always logged

# nothing reads the process's name, and it costs every log record a lookup (logging's
# "Optimization" notes); the process and thread ids stay: gunicorn's own lines print
# `[%(process)d]`, and a None there is a logging error in place of its worker's message
logging.logMultiprocessing = False


def utc_time(record: logging.LogRecord) -> str:
    """The record's time in UTC, ISO 8601 with milliseconds and `Z`."""
    seconds, fraction = divmod(record.created, 1)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{int(fraction * 1000):03d}Z"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the context it was written in."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """One readable line, UTC time first."""

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        return utc_time(record)


# what every LogRecord carries: not repeated in a JSON line (`extra=` fields are)
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, any `extra=` fields,
    and the traceback (`exc_info`) when there is one. Written by hand: it runs for every request,
    and a general-purpose JSON formatter cost four times as much."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key in record.__dict__.keys() - _STANDARD:
            line[key] = record.__dict__[key]
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(choice: str | None, stream=None) -> logging.Formatter:
    """JSON or text: `choice` when it says which, else JSON unless `stream` is a terminal."""
    choice = (choice or "").strip().lower()
    if choice not in ("json", "text"):
        isatty = getattr(stream or sys.stderr, "isatty", None)
        choice = "text" if isatty and isatty() else "json"
    if choice == "text":
        return TextFormatter(_TEXT)
    return JsonLineFormatter()


def configure(choice: str | None = None, stream=None) -> logging.Handler:
    """Send the root logger's INFO and above to `stream` (stderr) in the chosen format. One
    handler per process: called again (another app in the same process), it is reused."""
    stream = stream or sys.stderr
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "gradcert", False)), None)
    if handler is None:
        handler = logging.StreamHandler(stream)
        handler.gradcert = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    elif handler.stream is not stream:
        handler.setStream(stream)
    handler.setFormatter(formatter(choice, stream))
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def sane_request_id(value: str | None) -> str:
    """The caller's request id when it is 8-64 of [A-Za-z0-9._-], else a new one."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def init_app(app: Flask) -> None:
    """Request ids on every request; a log line when a request ends, for every request
    (`GRADCERT_REQUEST_LOG=all`) or for the notable ones: failed (4xx, 5xx) or slower than 1 s.
    Every request is counted and timed in /metrics either way, and any line written while it runs
    carries its id."""
    every = app.config.get("GRADCERT_REQUEST_LOG", "notable") == "all"

    @app.before_request
    def _start() -> None:
        # the request's one clock: metrics and the verification page's timing floor read it too
        g.request_started = time.perf_counter()
        g.request_id_token = request_id.set(sane_request_id(request.headers.get("X-Request-ID")))

    @app.after_request
    def _finish(response):
        rid = request_id.get()
        response.headers["X-Request-ID"] = rid
        started = g.get("request_started")
        took = time.perf_counter() - started if started else None
        if not every and response.status_code < 400 and (took or 0) < SLOW:
            return response
        log.info(
            "%s %s %s",
            request.method,
            request.url_rule.rule if request.url_rule else "-",
            response.status_code,
            extra={
                "method": request.method,
                "route": request.url_rule.rule if request.url_rule else None,
                "status": response.status_code,
                "duration_ms": round(took * 1000, 1) if took is not None else None,
            },
        )
        return response

    @app.teardown_request
    def _forget(_exc=None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id.reset(token)
