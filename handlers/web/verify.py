"""The public verification page: `/v` (a form), `/v/<code>` (bilingual HTML) and `/v/<code>.json`.

The lookup itself is bot.diploma.lookups: limits per client address and per code prefix (to slow
enumeration), one Redis round trip for a code this worker answered within the minute, one query
and two trips for any other, known or unknown alike. The page and JSON of a remembered answer are
rendered once per minute (the page shows the minute it was checked at); the inline script and
style are allowed by their SHA-256 in the CSP, so a rendering needs no per-response nonce. An
answer for which SM2 had to run takes at least VERIFY_MIN_SECONDS, so its cost does not tell a
known code from an unknown one. With the database unreachable, a 503 page (or JSON) under the same
floor. Only what an employer needs is shown: never an ID number, phone or student number.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
import unicodedata
from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for

from bot.core.errors import DATABASE_AWAY
from bot.diploma import certificates
from bot.diploma.lookups import Answer
from bot.diploma.verification import FIELDS
from bot.platform.workdays import local
from handlers.client_address import client_address
from handlers.current import runtime
from models import utcnow

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "web"
bp = Blueprint("verify", __name__, template_folder=str(TEMPLATES))

MIN_SECONDS = 0.15
RETRY = 30  # seconds an employer is asked to wait while the database is unreachable
ENGLISH_VALUES = {
    "专科": "Associate degree (zhuanke)",
    "本科": "Bachelor's degree",
    "中职": "Secondary vocational",
    "全日制": "Full-time",
    "非全日制": "Part-time",
}


@bp.after_request
def _private_headers(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _policy()
    return response


@functools.cache
def _policy() -> str:
    """The CSP: the one inline script and style of base.html, allowed by their SHA-256."""
    source = (TEMPLATES / "base.html").read_text(encoding="utf-8")

    def allowed(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", source, re.S)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
            for b in blocks
        )

    return (
        f"default-src 'none'; style-src {allowed('style')}; script-src {allowed('script')}; "
        "img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


@bp.get("/v")
def form():
    """The form: type a code (spaces, dashes, lower case are fine), go to its page."""
    typed = request.args.get("code")
    if typed is None:
        return render_template("verify_form.html", lang=_lang(), typed="", error=False)
    code = _normalise(typed)
    if not certificates.looks_like_code(code):
        return render_template("verify_form.html", lang=_lang(), typed=typed, error=True), 400
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
        answer = _look_up(clean)
    except DATABASE_AWAY:  # 503, never a 500
        current_app.logger.warning("verification page: the database is unreachable")
        html = render_template("verify.html", lang=_lang(), state="unavailable", wait=RETRY)
        return _padded((html, 503, {"Retry-After": str(RETRY)}), True)
    if answer.wait:
        html = render_template("verify.html", lang=_lang(), state="limited", wait=answer.wait)
        return html, 429, {"Retry-After": str(answer.wait)}
    lang, checked = _lang(), local(utcnow())
    minute = checked.strftime("%Y-%m-%d %H:%M")  # the page shows the minute it was checked at
    rendered, html = answer.seen.renders.get(("page", lang), ("", ""))
    if rendered != minute:
        html = render_template(
            "verify.html",
            lang=lang,
            english=ENGLISH_VALUES,
            checked_at=checked,
            **_view(answer),
        )
        answer.seen.renders["page", lang] = (minute, html)
    return _padded((html, _status(answer)), answer.slow)


@bp.get("/v/<code>.json")
def lookup_json(code: str):
    """The same answer for machines."""
    clean = _normalise(code)
    try:
        answer = _look_up(clean)
    except DATABASE_AWAY:  # 503, never a 500
        current_app.logger.warning("verification JSON: the database is unreachable")
        body = jsonify(
            error="unavailable",
            retry_after=RETRY,
            message="暂时无法查询，请稍后再试 / Temporarily unavailable, try again later",
        )
        return _padded((body, 503, {"Retry-After": str(RETRY)}), True)
    if answer.wait:
        body = jsonify(
            error="rate_limited",
            retry_after=answer.wait,
            message="查询过于频繁，请稍后再试 / Too many lookups, try again later",
        )
        return body, 429, {"Retry-After": str(answer.wait)}
    body = answer.seen.renders.get("json")
    if body is None:
        view = _view(answer)
        fields = view["fields"] or {}
        body = jsonify(
            {
                "code": clean,
                "status": view["state"],
                "genuine": view["genuine"],
                **{name: fields.get(name) for name in FIELDS},
                "signature": view["signature"],
                "digest": view["digest"],
                "public_key": view["public_key"],
                "fingerprint": view["fingerprint"],
            }
        ).get_data()
        answer.seen.renders["json"] = body
    response = current_app.response_class(body, _status(answer), mimetype="application/json")
    return _padded(response, answer.slow)


def _look_up(code: str) -> Answer:
    """The answer for a normalised code, within the limits (bot.diploma.lookups)."""
    rt = runtime()
    return rt.lookups.look_up(rt.sessions, code, client_address())


def _status(answer: Answer) -> int:
    return 404 if answer.seen.facts.state == "unknown" else 200


def _view(answer: Answer) -> dict:
    """What the page and the JSON show of an answer."""
    facts, signer = answer.seen.facts, runtime().domain.keyring.signer
    view = {
        "code": facts.code,
        "state": facts.state,
        "genuine": facts.genuine,
        "fields": facts.fields,
        "signature": facts.signature,
        "digest": facts.digest,
        "public_key": facts.public_key or signer.public_hex,
        "fingerprint": facts.fingerprint or signer.fingerprint,
    }
    if facts.valid_until is not None:
        view["valid_until_local"] = local(facts.valid_until)
    return view


def _padded(response, slow: bool):
    """When SM2 had to run (a verdict not remembered), hold the answer until VERIFY_MIN_SECONDS
    have passed since the request started, so that its cost does not tell a known code from an
    unknown one; otherwise known and unknown codes cost the same (bot.diploma.lookups) and
    answer at once."""
    if not slow:
        return response
    floor = float(current_app.config.get("VERIFY_MIN_SECONDS", MIN_SECONDS))
    remaining = g.request_started + floor - time.perf_counter()  # the request's clock (logs)
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
