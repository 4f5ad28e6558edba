"""What every mini-program API view relies on: the bearer session, rate limits per session and per
client address, Idempotency-Key replay, the user's lock, and a transaction with its effects run once
after the commit."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

from flask import Response, current_app, g, make_response, request
from redis.exceptions import RedisError

from bot.core import keys
from bot.platform.ratelimit import RateLimit
from handlers.client_address import client_address
from handlers.current import runtime
from handlers.miniapp.errors import ApiError, error_response
from handlers.miniapp.sessions import MiniSession, SessionStore

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL = 86400
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
LOCK_WAIT = 10.0


def sessions() -> SessionStore:
    """The session store of this app."""
    return SessionStore(runtime().redis, int(current_app.config["MINIAPP_SESSION_TTL"]))


def current_session() -> MiniSession:
    """The logged-in user of this request (after `authenticated`)."""
    return g.mini_session


def authenticated(view: Callable) -> Callable:
    """401 unless `Authorization: Bearer <token>` names a live session."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        session = sessions().load(token.strip()) if scheme.lower() == "bearer" else None
        if session is None:
            raise ApiError(401, "unauthorized", "请先登录（登录已过期或无效）。")
        g.mini_session = session
        return view(*args, **kwargs)

    return wrapper


def limited(
    name: str, per_session: tuple[int, int] = (60, 60), per_address: tuple[int, int] = (300, 60)
):
    """At most n requests per window seconds per account and per client address (429 beyond)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            redis = runtime().redis
            checks = [(per_address, keys.api_rate_by_address(name, client_address()))]
            session = g.get("mini_session")
            if session is not None:
                checks.append((per_session, keys.api_rate_by_user(session.tag, name)))
            for (limit, window), key in checks:
                wait = RateLimit(redis, limit, window).hit(key)
                if wait:
                    raise ApiError(
                        429, "rate_limited", "操作太频繁了，请稍后再试。", retry_after=max(1, wait)
                    )
            return view(*args, **kwargs)

        return wrapper

    return decorate


def idempotency_key() -> str | None:
    """The request's Idempotency-Key, checked (400 when malformed)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400, "bad_idempotency_key", "Idempotency-Key 应为 1 到 64 个字母、数字或 ._:- 。"
        )
    return key


def idempotent(view: Callable) -> Callable:
    """Replay the first answer to a repeated Idempotency-Key of the same account and request.

    The key is per account (not per token), so a retry after logging in again is still answered
    from the first attempt. The same key with another request (query string or body) is refused
    (422); a retry while the first attempt runs gets 409. Server errors and 429s are not kept.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = idempotency_key()
        if key is None:
            return view(*args, **kwargs)
        session, redis = current_session(), runtime().redis
        slot = keys.idempotency(session.tag, key)
        fingerprint = _fingerprint()
        if not redis.set(slot, json.dumps({"fp": fingerprint}), nx=True, ex=120):
            return _replay(redis.get(slot), fingerprint)
        try:
            try:
                response = make_response(view(*args, **kwargs))
            except ApiError as exc:
                response = make_response(error_response(exc))
        except Exception:
            redis.delete(slot)
            raise
        if response.status_code >= 500 or response.status_code in (409, 429):
            redis.delete(slot)
        else:
            redis.set(
                slot,
                json.dumps(
                    {
                        "fp": fingerprint,
                        "status": response.status_code,
                        "body": response.get_data(as_text=True),
                    }
                ),
                ex=IDEMPOTENCY_TTL,
            )
        return response

    return wrapper


def _replay(raw: bytes | None, fingerprint: str) -> Response:
    stored = json.loads(raw) if raw else None
    if stored is None or "status" not in stored:
        if stored is not None and stored["fp"] != fingerprint:
            raise ApiError(422, "idempotency_key_reused", "这个 Idempotency-Key 已用于另一个请求。")
        raise ApiError(
            409, "request_in_progress", "同一个请求正在处理，请稍后再试。", retry_after=1
        )
    if stored["fp"] != fingerprint:
        raise ApiError(422, "idempotency_key_reused", "这个 Idempotency-Key 已用于另一个请求。")
    response = Response(stored["body"], status=stored["status"], mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _fingerprint() -> str:
    """A digest of what was asked: method, path, query string (`acting_for`) and body (form fields
    and file contents)."""
    digest = hashlib.sha256(f"{request.method} {request.path}".encode())
    if request.query_string:
        digest.update(b"\0?" + request.query_string)
    if request.mimetype == "multipart/form-data":
        for name, value in sorted((str(k), str(v)) for k, v in request.form.items(multi=True)):
            digest.update(f"\0{name}={value}".encode("utf-8", "surrogatepass"))
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: str(item[0])):
            digest.update(
                f"\0{name}:".encode("utf-8", "surrogatepass")
                + hashlib.sha256(upload.read()).digest()
            )
            upload.seek(0)
    else:
        digest.update(b"\0" + request.get_data(cache=True))
    return digest.hexdigest()


@contextmanager
def user_lock(session: MiniSession) -> Iterator[None]:
    """The account's conversation lock: one change of a user's data at a time, chat included."""
    storage = runtime().storage
    token = secrets.token_hex(12)
    if not storage.acquire(session.tag, token, time.time() + LOCK_WAIT):
        raise ApiError(409, "busy", "上一个请求还在处理，请稍后再试。", retry_after=1)
    try:
        yield
    finally:
        try:
            storage.release(session.tag, token)
        except RedisError:
            log.warning("could not release a user lock")


def services_for(session: MiniSession, msg_id: str | None = None):
    """The unit of work acting as this user (handlers.runtime), committed at the end.

    An ApiError is an answer, not a failure: what was written before it (audit rows, code
    events) is committed too, and the effects it collected run. Anything else rolls back.
    """
    return runtime().unit(
        session.inbound(msg_id or idempotency_key_or_none()), commit_on=(ApiError,)
    )


def idempotency_key_or_none() -> str | None:
    """The Idempotency-Key as a message id (so effects stay once-only across retries)."""
    key = request.headers.get("Idempotency-Key")
    return f"idem:{key}" if key and IDEMPOTENCY_KEY.fullmatch(key) else None
