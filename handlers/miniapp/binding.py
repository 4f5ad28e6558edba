"""Binding through the API: status, bind (name, ID number, student number), unbind, delete my
data, and the second factor: request a code, verify a code. A phone the channel proved in this
session stands in for the SMS code only when it is the registrar's phone of that student
(bot.binding.rules).

Input is read by bot.understand, decided by bot.binding.rules (the same `claim_identity` as the
chat) and refused in the words of bot.binding.refusals, so the answer is the chat's.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from bot import understand as text
from bot.account.rules import delete_personal_data, unbind_account
from bot.binding import reconfirm
from bot.binding.refusals import (
    BAD_CODE,
    BAD_NAME,
    BAD_STUDENT_NO,
    bad_id_number,
    claim_refused,
    code_not_sent,
    code_refused,
)
from bot.binding.rules import (
    CONSENT_VERSION,
    ClaimKind,
    active_binding,
    check_code,
    claim_identity,
    complete_binding,
    has_consent,
    phone_matches,
    record_consent,
    send_code,
)
from bot.core.replies import Refused
from bot.platform.otp import CODE_TTL, LOCK_SECONDS, Check
from handlers.miniapp.errors import ApiError, json_body, text_field
from handlers.miniapp.guard import (
    authenticated,
    current_session,
    idempotent,
    limited,
    services_for,
    user_lock,
)
from handlers.miniapp.present import (
    binding_json,
    pending_student,
    refusal,
    set_pending_student,
)
from models import Student

bp = Blueprint("api_binding", __name__)
CLAIM_STATUS = {ClaimKind.TOO_MANY: 429, ClaimKind.NO_MATCH: 422, ClaimKind.BOUND_TO_OTHER: 409}
CODE_STATUS = {Check.WRONG: 422, Check.DEAD: 410, Check.EXPIRED: 410, Check.LOCKED: 429}


@bp.get("/binding")
@authenticated
@limited("binding")
def status():
    """Bound or not, whether the last code check is fresh, consent, a code in flight."""
    session = current_session()
    with services_for(session) as s:
        binding = active_binding(s.db, s.account)
        pending = pending_student(s)
        return jsonify(
            bound=binding is not None,
            binding=binding_json(binding, s.now()) if binding else None,
            consent_version=CONSENT_VERSION,
            consented=has_consent(s.db, s.account),
            pending_purpose="bind" if pending is not None else None,
        )


@bp.post("/binding")
@authenticated
@idempotent
@limited("bind", per_session=(20, 3600), per_address=(200, 3600))
def bind():
    """Match the identity; bind at once with a matching proven phone, else send an SMS code."""
    data = json_body()
    if data.get("consent") is not True:
        raise ApiError(
            400,
            "consent_required",
            f"请先阅读并同意个人信息告知（版本 {CONSENT_VERSION}）。",
            consent_version=CONSENT_VERSION,
        )
    name, number, student_no = _identity(data)
    session = current_session()
    with user_lock(session), services_for(session) as s:
        if not has_consent(s.db, s.account):
            record_consent(s.db, s.account)
            s.audit("consent", detail=f"binding {CONSENT_VERSION} via {session.channel}")
        claim = claim_identity(s, name, number, student_no)
        if claim.kind is ClaimKind.ALREADY_SAME:
            return jsonify(
                status="bound", verified_by=None, binding=binding_json(claim.binding, s.now())
            )
        if claim.kind is not ClaimKind.MATCHED:
            raise refusal(
                claim_refused(claim), CLAIM_STATUS[claim.kind], retry_after=claim.wait or None
            )
        answer, effects = _second_factor(s, session, claim.student, "bind")
        s.effects.extend(effects)
    return answer


@bp.delete("/binding")
@authenticated
@limited("unbind", per_session=(10, 3600))
def remove():
    """Unbind this account."""
    session = current_session()
    with user_lock(session), services_for(session) as s:
        set_pending_student(s, None)
        if unbind_account(s) is None:
            raise refusal(Refused("not_bound", "account/not_bound"), 404)
    return jsonify(status="unbound")


@bp.delete("/me")
@authenticated
@limited("delete_me", per_session=(5, 3600))
def delete_me():
    """删除我的信息, as in the chat (the page confirms first): every session of the user ends."""
    session = current_session()
    with user_lock(session), services_for(session) as s:
        delete_personal_data(s)  # its effect also forgets a binding in progress (its Redis key)
    return jsonify(status="deleted")


@bp.post("/code")
@authenticated
@idempotent
@limited("code", per_session=(10, 3600), per_address=(100, 3600))
def request_code():
    """A (new) code for what waits for it: the binding in progress, else a diploma lookup."""
    session = current_session()
    with user_lock(session), services_for(session) as s:
        student, purpose = _awaiting(s)
        answer, effects = _second_factor(s, session, student, purpose)
        s.effects.extend(effects)
    return answer


@bp.post("/code/verify")
@authenticated
@idempotent
@limited("code_verify", per_session=(30, 3600), per_address=(300, 3600))
def verify_code():
    """Check the six digits; bind, or refresh the lookup check."""
    data = json_body()
    digits = text.read_code(text_field(data, "code", max_length=12))
    if digits is None:
        raise refusal(BAD_CODE, 400)
    session = current_session()
    with user_lock(session), services_for(session) as s:
        student, purpose = _awaiting(s)
        verdict = check_code(s, student, purpose, digits)
        if verdict.check is not Check.OK:
            raise _code_problem(verdict)
        answer, effects = _verified(s, student, purpose, "sms")
        s.effects.extend(effects)
    return answer


# -- helpers --------------------------------------------------------------------------------------
def _identity(data: dict) -> tuple[str, str, str | None]:
    """Name, ID number and student number, read and refused as the chat reads and refuses them."""
    name = text.read_name(text_field(data, "name", max_length=30))
    if name is None:
        raise refusal(BAD_NAME, 400)
    number = text.read_id_number(text_field(data, "id_number", max_length=40))
    bad = bad_id_number(number)
    if bad is not None:
        raise refusal(bad, 422, problem=bad.reason)
    typed = text_field(data, "student_no", max_length=30, required=False)
    student_no = text.read_student_no(typed) if typed is not None else None
    if typed is not None and student_no is None:
        raise refusal(BAD_STUDENT_NO, 400)
    return name, number, student_no


def _awaiting(s) -> tuple[Student, str]:
    """The student and purpose a code is for: a binding in progress, else the bound student."""
    pending = pending_student(s)
    if pending is not None:
        return pending, "bind"
    binding = active_binding(s.db, s.account)
    if binding is None:
        raise ApiError(409, "nothing_to_verify", "现在没有需要验证的操作，请先绑定身份。")
    return binding.student, "lookup"


def _second_factor(s, session, student: Student, purpose: str):
    """The phone shortcut when it applies (not for the yearly re-confirmation), else an SMS code
    (202)."""
    if phone_matches(student, session.proven_phone_index) and not _yearly(s, purpose):
        return _verified(s, student, purpose, "phone")
    sent = send_code(s, student, purpose)
    if sent.phone_masked is None:
        raise refusal(code_not_sent(sent), 422)
    if sent.refusal is not None:
        refused = code_not_sent(sent)
        raise refusal(refused, 429, retry_after=max(1, sent.wait), reason=refused.reason)
    if purpose == "bind":
        set_pending_student(s, student)
    body = jsonify(
        status="code_sent", purpose=purpose, phone_masked=sent.phone_masked, expires_in=CODE_TTL
    )
    return (body, 202), [sent.effect]


def _yearly(s, purpose: str) -> bool:
    """True when the bound account's code is its yearly re-confirmation (bot.binding.reconfirm)."""
    binding = active_binding(s.db, s.account) if purpose == "lookup" else None
    return binding is not None and reconfirm.is_due(binding, s.now(), s.config)


def _verified(s, student: Student, purpose: str, how: str):
    """The second factor checked out (`how`: "sms" or "phone")."""
    if purpose == "bind":
        if not has_consent(s.db, s.account):  # withdrawn (删除我的信息) since the binding began
            set_pending_student(s, None)
            raise ApiError(
                409,
                "consent_required",
                f"个人信息告知的同意已撤回，请重新开始绑定并同意告知（版本 {CONSENT_VERSION}）。",
                consent_version=CONSENT_VERSION,
            )
        bound = complete_binding(s, student)
        set_pending_student(s, None)
        binding = bound.result.binding
        binding.verified_at = s.now()
        return jsonify(
            status="bound", verified_by=how, binding=binding_json(binding, s.now())
        ), bound.effects
    binding = active_binding(s.db, s.account)
    if binding is None or binding.student_id != student.id:  # unbound or taken over meanwhile
        raise ApiError(409, "nothing_to_verify", "现在没有需要验证的操作，请先绑定身份。")
    binding.verified_at = s.now()
    s.audit("lookup_verified", student.id, detail=how)
    return jsonify(status="verified", verified_by=how, binding=binding_json(binding, s.now())), []


def _code_problem(verdict) -> ApiError:
    """A code that did not check out, told as the chat tells it."""
    extra = {"tries_left": verdict.tries_left} if verdict.check is Check.WRONG else {}
    retry_after = (verdict.wait or LOCK_SECONDS) if verdict.check is Check.LOCKED else None
    return refusal(
        code_refused(verdict), CODE_STATUS[verdict.check], retry_after=retry_after, **extra
    )
