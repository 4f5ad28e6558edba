"""The public verification page: `/v` (a form), `/v/<code>` (bilingual HTML) and `/v/<code>.json`.

A lookup is rate limited per client address and per code prefix (to slow enumeration). Timing does
not tell whether a code exists: a known code's SM2 verdict is remembered (bot.diploma.keyring), so a
known code costs one query and two Redis calls (limit, verdict), as an unknown one does (limit,
prefix limit); an answer for which SM2 had to run takes at least VERIFY_MIN_SECONDS. With the
database unreachable, a 503 page (or JSON) under the same floor. Only what an employer needs is
shown: never an ID number, phone or student number.
"""

from __future__ import annotations

import functools
import secrets
import time
import unicodedata
from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from redis.exceptions import RedisError

from bot.core import keys
from bot.core.errors import DATABASE_AWAY
from bot.diploma import certificates, verification
from bot.diploma.verification import FIELDS
from bot.platform.ratelimit import RateLimit
from bot.platform.workdays import local
from handlers.client_address import client_address
from handlers.current import runtime
from models import utcnow

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "web"
bp = Blueprint("verify", __name__, template_folder=str(TEMPLATES))

IP_LIMIT, PREFIX_LIMIT, WINDOW = 60, 30, 60
PREFIX_LENGTH = 4
MIN_SECONDS = 0.15
RETRY = 30  # seconds an employer is asked to wait while the database is unreachable
ENGLISH_VALUES = {
    "专科": "Associate degree (zhuanke)",
    "本科": "Bachelor's degree",
    "中职": "Secondary vocational",
    "全日制": "Full-time",
    "非全日制": "Part-time",
}


@bp.before_request
def _start_clock() -> None:
    g.verify_nonce = secrets.token_urlsafe(16)
    g.verify_started = time.monotonic()


@bp.after_request
def _private_headers(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    nonce = g.get("verify_nonce", "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return response


@bp.get("/v")
def form():
    """The form: type a code (spaces, dashes, lower case are fine), go to its page."""
    typed = request.args.get("code")
    if typed is None:
        return render_template(
            "verify_form.html", lang=_lang(), nonce=g.verify_nonce, typed="", error=False
        )
    code = _normalise(typed)
    if not certificates.looks_like_code(code):
        return render_template(
            "verify_form.html", lang=_lang(), nonce=g.verify_nonce, typed=typed, error=True
        ), 400
    return redirect(url_for("verify.page", code=code, **_lang_arg()))


@bp.get("/v/<code>")
def page(code: str):
    """The bilingual page of one code (or its JSON with `?format=json`)."""
    if request.args.get("format") == "json":
        return lookup_json(code)
    clean = _normalise(code)
    if clean != code and certificates.looks_like_code(clean):
        return redirect(url_for("verify.page", code=clean, **_lang_arg()))
    try:
        view = _limited_lookup(clean)
    except DATABASE_AWAY:  # 503, never a 500
        current_app.logger.warning("verification page: the database is unreachable")
        html = render_template(
            "verify.html", lang=_lang(), nonce=g.verify_nonce, state="unavailable", wait=RETRY
        )
        return _padded((html, 503, {"Retry-After": str(RETRY)}), True)
    if "wait" in view:
        html = render_template(
            "verify.html", lang=_lang(), nonce=g.verify_nonce, state="limited", wait=view["wait"]
        )
        return html, 429, {"Retry-After": str(view["wait"])}
    html = render_template(
        "verify.html",
        lang=_lang(),
        nonce=g.verify_nonce,
        english=ENGLISH_VALUES,
        checked_at=local(utcnow()),
        **view,
    )
    return _padded((html, 404 if view["state"] == "unknown" else 200), view["slow"])


@bp.get("/v/<code>.json")
def lookup_json(code: str):
    """The same answer for machines."""
    clean = _normalise(code)
    try:
        view = _limited_lookup(clean)
    except DATABASE_AWAY:  # 503, never a 500
        current_app.logger.warning("verification JSON: the database is unreachable")
        body = jsonify(
            error="unavailable",
            retry_after=RETRY,
            message="暂时无法查询，请稍后再试 / Temporarily unavailable, try again later",
        )
        return _padded((body, 503, {"Retry-After": str(RETRY)}), True)
    if "wait" in view:
        body = jsonify(
            error="rate_limited",
            retry_after=view["wait"],
            message="查询过于频繁，请稍后再试 / Too many lookups, try again later",
        )
        return body, 429, {"Retry-After": str(view["wait"])}
    fields = view["fields"] or {}
    body = {
        "code": clean,
        "status": view["state"],
        "genuine": view["genuine"],
        **{name: fields.get(name) for name in FIELDS},
        "signature": view["signature"],
        "digest": view["digest"],
        "public_key": view["public_key"],
        "fingerprint": view["fingerprint"],
    }
    return _padded((jsonify(body), 404 if view["state"] == "unknown" else 200), view["slow"])


def _lookup(code: str) -> dict:
    """State, shown fields and signature of a normalised code; `slow` when SM2 had to run."""
    try:
        facts = _facts(code)
    except DATABASE_AWAY:  # a pooled connection that died in an outage: once more, on a fresh one
        facts = _facts(code)
    signer = runtime().domain.keyring.signer
    view = {
        "code": code,
        "state": facts.state,
        "genuine": facts.genuine,
        "fields": facts.fields,
        "signature": facts.signature,
        "digest": facts.digest,
        "public_key": facts.public_key or signer.public_hex,
        "fingerprint": facts.fingerprint or signer.fingerprint,
        "slow": facts.slow,
    }
    if facts.valid_until is not None:
        view["valid_until_local"] = local(facts.valid_until)
    return view


def _facts(code: str) -> verification.PublicFacts:
    """The facts of a code, the lookup counted for the dashboard (the certificate found and its
    state, never the code typed; in Redis, written to SQL by the sweep: bot.diploma.lookups)."""
    with runtime().sessions() as db:
        facts = verification.public_facts(db, runtime().domain.keyring, code)
        found = facts.certificate.id if facts.certificate is not None else None
    try:
        runtime().lookups.count(found, facts.state, utcnow())
    except RedisError:  # the employer still gets the answer; only the dashboard misses it
        current_app.logger.warning("verification lookup not counted (Redis)")
    return facts


def _limited_lookup(code: str) -> dict:
    """The lookup, within the limits: per client address for every lookup; per code prefix only for
    unknown codes (guessing), so that nobody can block the page of a real certificate."""
    wait = _hit(IP_LIMIT, keys.verify_by_address(client_address()))
    if wait:
        return {"wait": wait}
    view = _lookup(code)
    if view["state"] == "unknown":
        wait = _hit(PREFIX_LIMIT, keys.verify_by_prefix(code[:PREFIX_LENGTH]))
        if wait:
            return {"wait": wait}
    return view


def _hit(limit: int, key: str) -> int:
    """Seconds to wait when over the limit, else 0 (and 0 when Redis is unreachable)."""
    try:
        wait = _limit(runtime().redis, limit).hit(key)
    except RedisError:  # an employer still gets an answer; the timing floor still applies
        current_app.logger.warning("verification rate limit unavailable (Redis)")
        return 0
    return max(1, wait) if wait else 0


@functools.lru_cache(maxsize=8)
def _limit(redis, limit: int) -> RateLimit:
    return RateLimit(redis, limit, WINDOW)


def _padded(response, slow: bool):
    """When SM2 had to run (a verdict not remembered), hold the answer until VERIFY_MIN_SECONDS
    have passed since the request started, so that its cost does not tell a known code from an
    unknown one; otherwise both take one query and one Redis read, and answer at once."""
    if not slow:
        return response
    floor = float(current_app.config.get("VERIFY_MIN_SECONDS", MIN_SECONDS))
    remaining = g.verify_started + floor - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    return response


def _normalise(typed: str) -> str:
    """A code as typed or scanned: full-width forms, spaces, dashes and lower case tolerated."""
    return certificates.normalise_code(unicodedata.normalize("NFKC", typed))[:64]


def _lang() -> str:
    return "en" if request.args.get("lang") == "en" else "zh"


def _lang_arg() -> dict:
    return {"lang": "en"} if _lang() == "en" else {}
