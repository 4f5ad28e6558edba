"""The diploma record and electronic certificates through the API: look up, issue (30-180 days),
list, show, extend, close, and a signed download link. Everything here needs a binding whose code
check is fresh (10 minutes), or a proven phone that is the registrar's phone of the student, or
an active proxy named by `?acting_for=` (handlers/miniapp/proxies.py). The decisions are
bot/diploma/rules.py's, shared with the chat; this module only turns their results into JSON."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select

from bot.binding import reconfirm
from bot.binding.refusals import Refused
from bot.binding.rules import active_binding, phone_matches
from bot.diploma import certificates
from bot.diploma import rules as diplomas
from bot.diploma.rules import CertificateResult, RecordState, code_is_fresh
from bot.platform import idcard
from handlers.miniapp.errors import ApiError, int_field, json_body
from handlers.miniapp.guard import (
    authenticated,
    current_session,
    idempotent,
    limited,
    services_for,
    user_lock,
)
from handlers.miniapp.present import certificate_json, day, refusal, when
from handlers.miniapp.proxies import acting_json, acting_proxy
from models import Certificate, Proxy, Scope, Student

bp = Blueprint("api_certificates", __name__)
NOT_BOUND = Refused("not_bound", "diploma/not_bound")


@bp.get("/diploma")
@authenticated
@limited("diploma", per_session=(30, 60), per_address=(300, 60))
def diploma():
    """The diploma record, or when it will appear, or why it cannot be shown."""
    session = current_session()
    with services_for(session) as s:
        student, acting = _subject(s, session, Scope.LOOKUP)
        lookup = diplomas.look_up(s, student, acting, via=f"api {session.channel}")
        view, d = lookup.view, lookup.view.diploma
        record = None
        if view.state is RecordState.RECORD:
            record = {
                "school": s.domain.school,
                "name_masked": idcard.mask_name(student.name),
                "level": d.level,
                "major": d.major,
                "study_mode": d.study_mode,
                "campus": d.campus,
                "campus_name": s.domain.college.campus(d.campus),  # never the raw code to people
                "enrol_date": day(d.enrol_date),
                "grad_date": day(d.grad_date),
                "certificate_no": d.certificate_no,
            }
        body = dict(
            state=view.state.value,
            record=record,
            expected_date=day(view.expected),
            leave_date=day(d.leave_date) if d else None,
            certificate_no=d.certificate_no if view.state is RecordState.REVOKED else None,
            acting_for=acting_json(acting),
        )
        s.effects.extend(lookup.effects)
    return jsonify(body)


@bp.get("/certificates")
@authenticated
@limited("certificates")
def list_certificates():
    """The student's certificates, newest first."""
    session = current_session()
    with services_for(session) as s:
        student, acting = _subject(s, session, Scope.CERTIFICATE)
        rows = s.db.scalars(
            select(Certificate)
            .where(Certificate.student_id == student.id)
            .order_by(Certificate.issued_at.desc())
            .limit(50)
        ).all()
        return jsonify(
            certificates=[certificate_json(c, s.now()) for c in rows],
            acting_for=acting_json(acting),
        )


@bp.post("/certificates")
@authenticated
@idempotent
@limited("certificate_issue", per_session=(20, 3600), per_address=(200, 3600))
def issue():
    """A new certificate valid for `days` (30-180), signed and in the ledger."""
    days = int_field(json_body(), "days", certificates.MIN_DAYS, certificates.MAX_DAYS)
    session = current_session()
    with user_lock(session), services_for(session) as s:
        student, acting = _subject(s, session, Scope.CERTIFICATE)
        result = _done(diplomas.issue_certificate(s, student, days, acting))
        body = {**certificate_json(result.cert, s.now()), "download": _download(result)}
        s.effects.extend(result.effects)
    return jsonify(body), 201


@bp.get("/certificates/<code>")
@authenticated
@limited("certificates")
def show(code: str):
    """One of the student's certificates."""
    session = current_session()
    with services_for(session) as s:
        cert = _mine(s, _subject(s, session, Scope.CERTIFICATE)[0], code)
        return jsonify(certificate_json(cert, s.now()))


@bp.post("/certificates/<code>/extend")
@authenticated
@idempotent
@limited("certificate_change", per_session=(30, 3600))
def extend(code: str):
    """Valid for `days` (30-180) from today, re-signed; a new ledger entry."""
    days = int_field(json_body(), "days", certificates.MIN_DAYS, certificates.MAX_DAYS)
    session = current_session()
    with user_lock(session), services_for(session) as s:
        student, acting = _subject(s, session, Scope.CERTIFICATE)
        result = _done(diplomas.extend_certificate(s, _mine(s, student, code), days, acting))
        body = {**certificate_json(result.cert, s.now()), "download": _download(result)}
        s.effects.extend(result.effects)
    return jsonify(body)


@bp.post("/certificates/<code>/close")
@authenticated
@idempotent
@limited("certificate_change", per_session=(30, 3600))
def close(code: str):
    """Closed by its holder: verification says so from now on."""
    session = current_session()
    with user_lock(session), services_for(session) as s:
        student, acting = _subject(s, session, Scope.CERTIFICATE)
        result = _done(diplomas.close_certificate(s, _mine(s, student, code), acting))
        body = certificate_json(result.cert, s.now())
        s.effects.extend(result.effects)
    return jsonify(body)


@bp.get("/certificates/<code>/download")
@authenticated
@limited("certificate_download", per_session=(30, 3600), per_address=(300, 3600))
def download(code: str):
    """A signed link to the PDF (72 hours) while the certificate is valid."""
    session = current_session()
    with services_for(session) as s:
        student, acting = _subject(s, session, Scope.CERTIFICATE)
        result = _done(diplomas.download_certificate(s, _mine(s, student, code), acting))
        s.effects.extend(result.effects)
    return jsonify(_download(result))


# -- helpers --------------------------------------------------------------------------------------
def _subject(s, session, scope: Scope) -> tuple[Student, Proxy | None]:
    """Whose record: the graduate `?acting_for=` names (an active proxy covering `scope`: their
    consent and the staff review stand in for the code check), else the user's own, verified."""
    acting = acting_proxy(s, scope)
    if acting is not None:
        return acting.student, acting
    return _verified_student(s, session), None


def _verified_student(s, session) -> Student:
    """The bound student, when the code check is fresh (or a proven phone is theirs)."""
    binding = active_binding(s.db, s.account)
    if binding is None:
        raise refusal(NOT_BOUND, 403)
    if not code_is_fresh(binding, s.now()):
        if reconfirm.is_due(binding, s.now(), s.config):  # the yearly check: a code, not a phone
            raise ApiError(
                403,
                "reconfirmation_required",
                "你的绑定已满一年，按学校规定要重新确认身份：请先完成短信验证（POST /code）。",
            )
        if not phone_matches(binding.student, session.proven_phone_index):
            raise ApiError(
                403, "verification_required", "为了保护你的信息，请先完成短信验证（POST /code）。"
            )
        binding.verified_at = s.now()
        s.audit("lookup_verified", binding.student_id, detail="phone")
    return binding.student


def _mine(s, student: Student, code: str) -> Certificate:
    cert = diplomas.certificate_of(s.db, student.id, code)
    if cert is None:
        raise ApiError(404, "certificate_not_found", "没有找到这份电子证明。")
    return cert


def _done(result: CertificateResult) -> CertificateResult:
    """The result of an action, or its refusal: a 409 that says what the chat says (with the
    record's or the certificate's state, when that is why)."""
    if result.refused is None:
        return result
    extra = {"state": result.refused.reason} if result.refused.reason else {}
    raise refusal(result.refused, 409, **extra)


def _download(result: CertificateResult) -> dict:
    return {"url": result.link.url, "expires_at": when(result.link.expires_at)}
