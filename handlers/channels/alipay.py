"""Alipay gateway notifications at POST /alipay/notify.

The form is verified (RSA2 with Alipay's public key: `sign` and `sign_type` popped, then the SDK's
`verify`), checked to be for our app and recent, and stored once per `notify_id` (a unique SQL
row). `success` is answered only after the row is committed, so Alipay retries until we have it;
a retry of a stored notification is answered `success` without a second row. Forged, unsigned or
foreign posts get `fail` with a 400.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from bot.platform.workdays import SHANGHAI
from handlers.channels.alipay_api import verify_notification
from handlers.config import MAX_BODY
from handlers.current import runtime
from models import AlipayNotification

bp = Blueprint("alipay", __name__)
log = logging.getLogger(__name__)
MAX_AGE = timedelta(days=2)  # Alipay retries for about 25 hours


def _answer(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


@bp.post("/alipay/notify")
def notify():
    """One notification from the gateway."""
    if (request.content_length or 0) > MAX_BODY:
        return _answer("fail", 413)
    rt = runtime()
    client = rt.alipay_client()
    if client is None:
        return _answer("fail", 503)
    fields = verify_notification(client, request.form.to_dict())
    if fields is None:
        log.warning("alipay notification refused: signature")
        return _answer("fail", 400)
    problem = _problem(fields)
    if problem:
        log.warning("alipay notification refused: %s", problem)
        return _answer("fail", 400)
    with rt.unit() as s:
        db = s.db
        if db.scalar(
            select(AlipayNotification.id).where(AlipayNotification.notify_id == fields["notify_id"])
        ):
            return _answer("success")
        db.add(
            AlipayNotification(
                notify_id=fields["notify_id"],
                notify_type=fields.get("notify_type", "")[:128],
                app_id=fields["app_id"],
                notify_time=fields.get("notify_time"),
                payload=json.dumps(fields, ensure_ascii=False, sort_keys=True),
            )
        )
        try:
            db.flush()
        except IntegrityError:  # a concurrent retry stored it first
            s.rollback()
    log.info("alipay notification %s stored", fields.get("notify_type"))
    return _answer("success")


def _problem(fields: dict[str, str]) -> str | None:
    """Why a correctly signed notification is still not ours to store, or None."""
    if fields.get("app_id") != current_app.config["ALIPAY_APP_ID"]:
        return "another app id"
    notify_id = fields.get("notify_id", "")
    if not notify_id or len(notify_id) > 128:
        return "no notify_id"
    try:
        sent = datetime.strptime(fields.get("notify_time", ""), "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=SHANGHAI
        )
    except ValueError:
        return "no notify_time"
    if abs(datetime.now(SHANGHAI) - sent) > MAX_AGE:
        return "stale"
    return None


@bp.errorhandler(Exception)
def _never_500(exc: Exception):
    """Alipay retries on anything but `success`: a plain `fail` (the cause is logged)."""
    if isinstance(exc, HTTPException):
        return _answer("fail", exc.code or 400)
    log.exception("unexpected error in the Alipay notification")
    return _answer("fail", 500)
