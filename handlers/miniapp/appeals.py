"""Appeals (异议申请) through the API: categories, my tickets, one ticket, file one (multipart, with
photos; `?acting_for=` files it for the graduate a proxy acts for), add information (text and/or
photos). The filing rules and their refusals are bot/appeals/intake.py's, shared with the chat (a
refusal says what the chat says); photos are checked and stored like chat photos."""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from bot import understand as text
from bot.appeals import intake
from bot.appeals import rules as appeals
from bot.appeals.intake import MAX_PHOTOS, AppealForm
from bot.binding.refusals import BAD_NAME, BAD_STUDENT_NO, bad_id_number
from handlers.channels import alipay_api
from handlers.current import runtime
from handlers.miniapp.errors import ApiError, bad_request, form_or_json, photo_uploads, text_field
from handlers.miniapp.guard import (
    authenticated,
    current_session,
    idempotent,
    limited,
    services_for,
    user_lock,
)
from handlers.miniapp.present import appeal_detail, appeal_summary, refusal
from handlers.miniapp.proxies import acting_proxy
from models import Appeal, Scope

bp = Blueprint("api_appeals", __name__)
UPLOAD_LIMIT = 30 * 1024 * 1024
STATUS = {
    "unknown_category": 400,
    "too_many_open": 409,
    "photos_required": 422,
    "identity_required": 400,
}


@bp.before_request
def _allow_uploads() -> None:
    """Photo uploads may be larger than the 64 KiB every other body is held to."""
    if request.mimetype == "multipart/form-data" and request.method == "POST":
        request.max_content_length = UPLOAD_LIMIT


@bp.get("/appeals/categories")
def categories():
    """The categories, with the document each needs as photos."""
    return jsonify(
        categories=[{"key": c.key, "label": c.label, "needs": c.needs} for c in appeals.CATEGORIES],
        max_open=appeals.MAX_OPEN,
        max_photos=MAX_PHOTOS,
    )


@bp.get("/appeals")
@authenticated
@limited("appeals")
def list_appeals():
    """The tickets the account follows (its own, and a bound graduate's filed by a proxy), newest first."""
    with services_for(current_session()) as s:
        return jsonify(appeals=[appeal_summary(a) for a in _followed(s)])


@bp.get("/appeals/<ticket_no>")
@authenticated
@limited("appeals")
def show(ticket_no: str):
    """One of the account's tickets, with its history."""
    with services_for(current_session()) as s:
        return jsonify(appeal_detail(_mine(s, ticket_no)))


@bp.post("/appeals")
@authenticated
@idempotent
@limited("appeal_file", per_session=(10, 3600), per_address=(100, 3600))
def create():
    """File a ticket: category, description, optional deadline, contact phone, photos."""
    data = form_or_json()
    photos = photo_uploads("photos", MAX_PHOTOS)
    form_id = _form_id(data)
    session = current_session()
    with user_lock(session), services_for(session) as s:
        acting = acting_proxy(s, Scope.APPEAL)
        form = AppealForm(
            category=text_field(data, "category", max_length=32),
            description=_description(data, required=True),
            contact_phone=contact_phone(s, data, acting),
            urgent_deadline=urgent_deadline(s, data),
            photos=photos,
        )
        if intake.needs_identity(s, acting):
            form.claimed_name, form.claimed_id, form.claimed_student_no = _claimed_identity(data)
        filed = intake.file_form(s, form, acting)
        if filed.refused is not None:
            raise refusal(filed.refused, STATUS[filed.refused.code])
        body = appeal_detail(filed.appeal)
        _remember_form_id(session, filed.appeal, form_id)
        s.effects.extend(filed.effects)
    return jsonify(body), 201


@bp.post("/appeals/<ticket_no>/information")
@authenticated
@idempotent
@limited("appeal_info", per_session=(30, 3600), per_address=(300, 3600))
def add_info(ticket_no: str):
    """Add text and/or photos to an open ticket (one that waits for them goes back to review)."""
    data = form_or_json()
    photos = photo_uploads("photos", MAX_PHOTOS)
    note = _description(data, required=False) or ""
    form_id = _form_id(data)
    if not note and not photos:
        raise bad_request("请填写补充说明或上传照片。", "nothing_to_add")
    session = current_session()
    with user_lock(session), services_for(session) as s:
        appeal = _mine(s, ticket_no)
        try:
            effects = intake.add_information(s, appeal, note, photos)
        except appeals.TransitionNotAllowed:
            raise refusal(intake.CLOSED, 409) from None
        s.db.flush()
        s.db.refresh(appeal)
        body = appeal_detail(appeal)
        _remember_form_id(session, appeal, form_id)
        s.effects.extend(effects)
    return jsonify(body)


# -- helpers --------------------------------------------------------------------------------------
def _followed(s) -> list[Appeal]:
    return appeals.followed(s.db, s.account, s.now())


def _mine(s, ticket_no: str) -> Appeal:
    appeal = None
    if re.fullmatch(r"G[AL]\d{8}-\d{4}", ticket_no):  # an appeal, or a lost certificate
        appeal = s.db.scalar(select(Appeal).where(Appeal.ticket_no == ticket_no))
    if appeal is None or not appeals.may_follow(s.db, appeal, s.account, s.now()):
        raise ApiError(404, "appeal_not_found", "没有找到这个申请。")
    return appeal


def _description(data: dict, required: bool) -> str | None:
    value = text_field(
        data,
        "description" if required else "text",
        max_length=appeals.DESCRIPTION_LIMIT,
        required=required,
    )
    value = text.free_text(value or "")
    refused = intake.description_problem(value) if required else None
    if refused is not None:
        raise refusal(refused, 400)
    return value


def contact_phone(s, data: dict, acting) -> str:
    """The contact phone given (read as the chat reads it), or the one on file."""
    given = text_field(data, "contact_phone", max_length=20, required=False)
    if given:
        number = text.read_phone(given)
        if number is None:
            raise refusal(intake.BAD_PHONE, 400)
        return number
    if acting is not None:  # a proxy gives their own number, as in the chat
        raise bad_request("代办时请填写你自己的联系电话（contact_phone）。", "missing_field")
    phone = intake.phone_on_file(s, acting)
    if not phone:
        raise bad_request("请填写联系电话（contact_phone）。", "missing_field")
    return phone


def urgent_deadline(s, data: dict) -> date | None:
    """The urgent deadline given, refused when it has passed (as in the chat)."""
    raw = text_field(
        data, "urgent_deadline", max_length=10, required=False, pattern=r"\d{4}-\d{2}-\d{2}"
    )
    if raw is None:
        return None
    try:
        deadline = date.fromisoformat(raw)
    except ValueError:
        raise bad_request("urgent_deadline 不是有效日期。", "bad_field") from None
    if intake.deadline_passed(deadline, s.now()):
        raise refusal(intake.DEADLINE_PASSED, 422)
    return deadline


def _claimed_identity(data: dict) -> tuple[str, str, str | None]:
    """Name, ID number and student number, read and refused as in binding (and in the chat)."""
    typed_name = text_field(data, "name", max_length=30, required=False)
    number = text.read_id_number(text_field(data, "id_number", max_length=40, required=False) or "")
    if not typed_name or not number:
        raise refusal(intake.IDENTITY_REQUIRED, 400)
    name = text.read_name(typed_name)
    if name is None:
        raise refusal(BAD_NAME, 400)
    bad = bad_id_number(number)
    if bad is not None:
        raise refusal(bad, 422, problem=bad.reason)
    typed_no = text_field(data, "student_no", max_length=30, required=False)
    student_no = text.read_student_no(typed_no) if typed_no else None
    if typed_no and student_no is None:
        raise refusal(BAD_STUDENT_NO, 400)
    return name, number, student_no


def _form_id(data: dict) -> str | None:
    return text_field(data, "form_id", max_length=64, required=False)


def _remember_form_id(session, appeal: Appeal, form_id: str | None) -> None:
    """Alipay: a form submission's formId may carry status messages about this ticket later."""
    if session.channel == "alipay" and form_id:
        alipay_api.remember_form_id(runtime().redis, session.tag, appeal.id, form_id)
