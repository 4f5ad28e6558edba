"""Binding through the API: status, bind (name, ID number, student number), unbind, delete my
data, and the second factor: request a code, verify a code. A phone the channel proved in this
session stands in for the SMS code only when it is the registrar's phone of that student
(bot.binding.rules).
"""

from __future__ import annotations

import re

from flask import Blueprint, jsonify

from bot import understand as text
from bot.account.rules import delete_personal_data, unbind
from bot.binding.rules import (
    CONSENT_VERSION,
    active_binding,
    check_code,
    complete_binding,
    has_consent,
    match_identity,
    phone_matches,
    record_consent,
    send_code,
)
from bot.core.messages import Effect
from bot.platform import idcard
from bot.platform.otp import CODE_TTL, Check
from handlers.miniapp.errors import ApiError, bad_request, json_body, text_field
from handlers.miniapp.guard import (
    authenticated,
    current_session,
    idempotent,
    limited,
    run_effects,
    runtime,
    services_for,
    user_lock,
)
from handlers.miniapp.present import (
    binding_json,
    code_refusal,
    pending_student,
    set_pending_student,
)
from models import Student

bp = Blueprint("api_binding", __name__)
NAME = re.compile(r"[\u3400-\u9fffA-Za-z·•・. ]{2,30}")


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
        raise ApiError(400, "consent_required", f"请先阅读并同意个人信息告知（版本 {CONSENT_VERSION}）。",
                       consent_version=CONSENT_VERSION)
    name, number, student_no = _identity(data)
    session = current_session()
    with user_lock(session), services_for(session) as s:
        if not has_consent(s.db, s.account):
            record_consent(s.db, s.account)
            s.audit("consent", detail=f"binding {CONSENT_VERSION} via {session.channel}")
        found = match_identity(s, name, number, student_no)
        if found.wait:
            raise ApiError(429, "too_many_mismatches", "信息对不上的次数太多了，请稍后再试。", retry_after=found.wait)
        if found.student is None:
            raise ApiError(422, "identity_mismatch", "填写的信息和学校的记录对不上。请检查姓名（毕业时的名字）、"
                           "身份证号（最后一位X）和学号；仍有问题可以提交异议申请。")
        current = active_binding(s.db, s.account)
        if current is not None and current.student_id == found.student.id:
            return jsonify(status="bound", verified_by=None, binding=binding_json(current, s.now()))
        if current is not None:
            raise ApiError(409, "bound_to_other", "这个账号已经绑定了其他身份；要换绑请先解除绑定。")
        answer, effects = _second_factor(s, session, found.student, "bind")
    run_effects(s.msg, effects)
    return answer


@bp.delete("/binding")
@authenticated
@limited("unbind", per_session=(10, 3600))
def remove():
    """Unbind this account."""
    session = current_session()
    with user_lock(session), services_for(session) as s:
        removed = unbind(s.db, s.account)
        set_pending_student(s, None)
        if removed is None:
            raise ApiError(404, "not_bound", "这个账号还没有绑定身份。")
        s.audit("unbind", removed.student_id, detail=f"via {session.channel}")
    return jsonify(status="unbound")


@bp.delete("/me")
@authenticated
@limited("delete_me", per_session=(5, 3600))
def delete_me():
    """删除我的信息, as in the chat (the page confirms first): every session of the user ends."""
    session = current_session()
    with user_lock(session), services_for(session) as s:
        delete_personal_data(s)
    run_effects(s.msg, [Effect("forget_user", queued=False)])  # also a binding in progress (its Redis key)
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
    run_effects(s.msg, effects)
    return answer


@bp.post("/code/verify")
@authenticated
@idempotent
@limited("code_verify", per_session=(30, 3600), per_address=(300, 3600))
def verify_code():
    """Check the six digits; bind, or refresh the lookup check."""
    data = json_body()
    digits = re.sub(r"\s", "", text_field(data, "code", max_length=12))
    if not re.fullmatch(r"\d{6}", digits):
        raise bad_request("验证码是6位数字。", "bad_code_format")
    session = current_session()
    with user_lock(session), services_for(session) as s:
        student, purpose = _awaiting(s)
        verdict = check_code(s, student, purpose, digits)
        if verdict.check is not Check.OK:
            raise _code_problem(verdict)
        answer, effects = _verified(s, student, purpose, "sms")
    run_effects(s.msg, effects)
    return answer


# -- helpers --------------------------------------------------------------------------------------
def _identity(data: dict) -> tuple[str, str, str | None]:
    name = text.clean(text_field(data, "name", max_length=30))
    if not NAME.fullmatch(name):
        raise bad_request("姓名只能包含汉字、字母和间隔号，2到30个字。", "bad_name")
    number = idcard.normalise(text_field(data, "id_number", max_length=40))
    problem = idcard.problem(number)
    if problem is not None:
        message = runtime().book.render(f"idcard/{problem.value}", length=len(number), birth=number[6:14])
        raise ApiError(422, "invalid_id_number", message, problem=problem.value)
    student_no = text_field(data, "student_no", max_length=30, required=False)
    if student_no is not None:
        student_no = text.number_token(student_no)
        if not re.fullmatch(r"[0-9A-Z]{4,20}", student_no):
            raise bad_request("学号是4到20位数字或字母。", "bad_student_no")
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
    """The phone shortcut when it applies, else an SMS code (202)."""
    if phone_matches(student, session.proven_phone_index):
        return _verified(s, student, purpose, "phone")
    sent = send_code(s, student, purpose)
    if sent.phone_masked is None:
        raise ApiError(422, "no_phone_on_file", "学校没有登记你的手机号，无法发送验证码。请带身份证到"
                       "行政楼一楼学籍窗口登记手机号（工作日 8:30-11:30，14:00-17:00）。")
    if sent.refusal is not None:
        raise code_refusal(sent.refusal, sent.wait)
    if purpose == "bind":
        set_pending_student(s, student)
    body = jsonify(status="code_sent", purpose=purpose, phone_masked=sent.phone_masked, expires_in=CODE_TTL)
    return (body, 202), [sent.effect]


def _verified(s, student: Student, purpose: str, how: str):
    """The second factor checked out (`how`: "sms" or "phone")."""
    if purpose == "bind":
        if not has_consent(s.db, s.account):  # withdrawn (删除我的信息) since the binding began
            set_pending_student(s, None)
            raise ApiError(409, "consent_required", "个人信息告知的同意已撤回，请重新开始绑定并同意告知"
                           f"（版本 {CONSENT_VERSION}）。", consent_version=CONSENT_VERSION)
        bound = complete_binding(s, student)
        set_pending_student(s, None)
        binding = bound.result.binding
        binding.verified_at = s.now()
        return jsonify(status="bound", verified_by=how, binding=binding_json(binding, s.now())), bound.effects
    binding = active_binding(s.db, s.account)
    if binding is None or binding.student_id != student.id:  # unbound or taken over meanwhile
        raise ApiError(409, "nothing_to_verify", "现在没有需要验证的操作，请先绑定身份。")
    binding.verified_at = s.now()
    s.audit("lookup_verified", student.id, detail=how)
    return jsonify(status="verified", verified_by=how, binding=binding_json(binding, s.now())), []


def _code_problem(verdict) -> ApiError:
    if verdict.check is Check.WRONG:
        return ApiError(422, "code_wrong", f"验证码不对，还可以再试{verdict.tries_left}次。", tries_left=verdict.tries_left)
    if verdict.check is Check.DEAD:
        return ApiError(410, "code_dead", "验证码错误次数太多，已经作废。请重新获取验证码。")
    if verdict.check is Check.EXPIRED:
        return ApiError(410, "code_expired", "验证码已过期或已使用，请重新获取。")
    wait = verdict.wait or 3600
    return ApiError(429, "code_locked", "验证码连续错误太多，已暂停1小时。", retry_after=wait)

