"""Lost certificates (证书遗失) through the API: what a 学历证明书 request needs and costs, and filing
one (multipart with photos, or JSON). The rules and their refusals are bot/lost/rules.py's, shared
with the chat; the ticket is then read and added to like an appeal (GET /appeals/{ticket_no})."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from bot import understand as text
from bot.appeals import intake
from bot.appeals import rules as appeals
from bot.lost import rules as lost
from bot.lost.rules import LostForm
from bot.lost.staff import DELIVERY_LABELS
from handlers.current import runtime
from handlers.miniapp.appeals import UPLOAD_LIMIT, contact_phone, urgent_deadline
from handlers.miniapp.errors import bad_request, form_or_json, photo_uploads, text_field
from handlers.miniapp.guard import (
    authenticated,
    current_session,
    idempotent,
    limited,
    services_for,
    user_lock,
)
from handlers.miniapp.present import appeal_detail, refusal
from models import Delivery

bp = Blueprint("api_lost", __name__)
STATUS = {
    "not_bound": 403,
    "graduate_only": 403,
    "too_many_open": 409,
    "photos_required": 422,
    "address_required": 400,
    "bad_address": 400,
    "deadline_passed": 422,
}


@bp.before_request
def _allow_uploads() -> None:
    """Photo uploads may be larger than the 64 KiB every other body is held to."""
    if request.mimetype == "multipart/form-data" and request.method == "POST":
        request.max_content_length = UPLOAD_LIMIT


@bp.get("/lost-certificates/terms")
def terms():
    """What the request needs (photos), what it costs and how it is delivered."""
    college = runtime().domain.college
    return jsonify(
        needs=appeals.LOST.needs,
        fee_yuan=college.lost_certificate_fee,
        fee_text=lost.fee_text(college) or None,
        deliveries=[{"key": d.value, "label": label} for d, label in DELIVERY_LABELS.items()],
        max_photos=intake.MAX_PHOTOS,
    )


@bp.post("/lost-certificates")
@authenticated
@idempotent
@limited("lost_file", per_session=(10, 3600), per_address=(100, 3600))
def create():
    """Ask for a 学历证明书: delivery (pickup or post with the address), photos, optional deadline,
    contact phone (the one on file by default), optional e-mail for notices."""
    data = form_or_json()
    photos = photo_uploads("photos", intake.MAX_PHOTOS)
    session = current_session()
    with user_lock(session), services_for(session) as s:
        refused = lost.may_ask(s, request.args.get("acting_for"))  # not for a proxy
        if refused is not None:
            raise refusal(refused, STATUS[refused.code])
        form = LostForm(
            delivery=_delivery(data),
            address=text.tidy(text_field(data, "address", max_length=200, required=False) or "")
            or None,
            contact_phone=contact_phone(s, data, None),
            urgent_deadline=urgent_deadline(s, data),
            purpose=text_field(data, "purpose", max_length=lost.PURPOSE_LONGEST, required=False),
            email=_email(data),
            photos=photos,
        )
        filed = lost.file_request(s, form)
        if filed.refused is not None:
            raise refusal(filed.refused, STATUS[filed.refused.code])
        s.db.flush()
        s.db.refresh(filed.appeal)
        body = appeal_detail(filed.appeal)
        s.effects.extend(filed.effects)
    return jsonify(body), 201


def _delivery(data: dict) -> Delivery:
    raw = text_field(data, "delivery", max_length=16)
    try:
        return Delivery(raw)
    except ValueError:
        raise bad_request("delivery 只能是 pickup（自取）或 post（邮寄）。", "bad_field") from None


def _email(data: dict) -> str | None:
    raw = text_field(data, "email", max_length=254, required=False)
    if not raw:
        return None
    email = text.read_email(raw)
    if email is None:
        raise bad_request("email 不是有效的电子邮箱地址。", "bad_field")
    return email
