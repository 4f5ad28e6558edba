"""The landing page at `/`: what this service is and where its three doors are (the verification
page, the staff console, the API document), so that a newcomer never meets a 404."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Blueprint, current_app, render_template

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "web"
bp = Blueprint("home", __name__, template_folder=str(TEMPLATES))


@bp.get("/")
def home():
    """Links to /v, /console and /api/v1/openapi.json, in Chinese and English."""
    nonce = secrets.token_urlsafe(16)
    html = render_template(
        "home.html", nonce=nonce, school=current_app.config["GRADCERT_SCHOOL_NAME"]
    )
    return (
        html,
        200,
        {
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
