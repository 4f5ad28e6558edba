"""The diploma record and electronic certificates through the API: look up, issue (30-180 days),
list, show, extend, close, and a signed download link. Everything here needs a binding whose code
check is fresh (10 minutes), or a proven phone that is the registrar's phone of the student, or
an active proxy named by `?acting_for=` (handlers/api_proxies.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, jsonify
from sqlalchemy import select

from bot.binding.rules import active_binding, phone_matches
from bot.core.messages import Effect
from bot.diploma import certificates
from bot.diploma.rules import RecordState, code_is_fresh, record_view
from bot.platform import idcard
from handlers.miniapp.errors import ApiError, int_field, json_body
from handlers.miniapp.guard import (
    authenticated,
    current_session,
    idempotent,
    limited,
    run_effects,
    services_for,
    user_lock,
)
from handlers.miniapp.present import certificate_json, day, when
from handlers.miniapp.proxies import acting_json, acting_proxy, audit_detail, told_graduate
from models import Certificate, Proxy, Scope, Student

bp = Blueprint("api_certificates", __name__)


@bp.get("/diploma")
@authenticated
@limited("diploma", per_session=(30, 60), per_address=(300, 60))
def diploma():
    """The diploma record, or when it will appear, or why it cannot be shown."""
    session = current_session()
    with services_for(session) as s:
        student, acting = _subject(s, session, Scope.LOOKUP)
        view = record_view(s.db, student, s.now())
        shown = view.state is RecordState.RECORD
        s.audit("view_diploma", student.id, result="shown" if shown else "not_yet",
                detail=audit_detail(acting, f"api {session.channel}"))
        effects = told_graduate(s, acting, "查询了毕业证书")
        d = view.diploma
        record = None
        if shown:
            record = {"school": s.domain.school, "name_masked": idcard.mask_name(student.name), "level": d.level,
                      "major": d.major, "study_mode": d.study_mode, "campus": d.campus,
                      "enrol_date": day(d.enrol_date), "grad_date": day(d.grad_date),
                      "certificate_no": d.certificate_no}
        body = dict(state=view.state.value, record=record, expected_date=day(view.expected),
                    leave_date=day(d.leave_date) if d else None,
                    certificate_no=d.certificate_no if view.state is RecordState.REVOKED else None,
                    acting_for=acting_json(acting))
    run_effects(s.msg, effects)
    return jsonify(body)


@bp.get("/certificates")
@authenticated
@limited("certificates")
def list_certificates():
    """The student's certificates, newest first."""
    session = current_session()
    with services_for(session) as s:
        student, acting = _subject(s, session, Scope.CERTIFICATE)
        rows = s.db.scalars(select(Certificate).where(Certificate.student_id == student.id)
                            .order_by(Certificate.issued_at.desc()).limit(50)).all()
        return jsonify(certificates=[certificate_json(c, s.now()) for c in rows], acting_for=acting_json(acting))


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
        view = record_view(s.db, student, s.now())
        if view.state is not RecordState.RECORD:
            raise ApiError(409, "diploma_unavailable", "你的毕业证书记录现在不能开具电子证明（未登记或已撤销）。",
                           state=view.state.value)
        cert = certificates.issue(s.db, s.domain.signer, student, view.diploma, s.account.id, days,
                                  s.domain.school, s.now())
        s.audit("issue_certificate", student.id, detail=audit_detail(acting, cert.code))
        body = {**certificate_json(cert, s.now()), "download": _download(s, cert)}
        effects = [Effect("render_certificate", {"certificate_id": cert.id}), *told_graduate(s, acting, "开具了电子证明")]
    run_effects(s.msg, effects)
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
        cert = _mine(s, student, code)
        _final_refused(certificates.extend, s.db, s.domain.signer, cert, days, s.domain.school, s.now())
        s.audit("extend_certificate", cert.student_id, detail=audit_detail(acting, cert.code))
        body = {**certificate_json(cert, s.now()), "download": _download(s, cert)}
    run_effects(s.msg, [Effect("render_certificate", {"certificate_id": cert.id})])
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
        cert = _mine(s, student, code)
        _final_refused(certificates.close, s.db, cert, s.now())
        s.audit("close_certificate", cert.student_id, detail=audit_detail(acting, cert.code))
        return jsonify(certificate_json(cert, s.now()))


@bp.get("/certificates/<code>/download")
@authenticated
@limited("certificate_download", per_session=(30, 3600), per_address=(300, 3600))
def download(code: str):
    """A signed link to the PDF (72 hours) while the certificate is valid."""
    session = current_session()
    with services_for(session) as s:
        student, acting = _subject(s, session, Scope.CERTIFICATE)
        cert = _mine(s, student, code)
        state = certificates.status(cert, s.now())
        if state is not certificates.CertStatus.VALID:
            raise ApiError(409, "certificate_not_valid", "这份电子证明已过期、关闭或撤销，不能下载。", state=state.value)
        s.audit("certificate_link", cert.student_id, detail=audit_detail(acting, cert.code))
        return jsonify(_download(s, cert))


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
        raise ApiError(403, "not_bound", "请先绑定身份。")
    if not code_is_fresh(binding, s.now()):
        if not phone_matches(binding.student, session.proven_phone_index):
            raise ApiError(403, "verification_required", "为了保护你的信息，请先完成短信验证（POST /code）。")
        binding.verified_at = s.now()
        s.audit("lookup_verified", binding.student_id, detail="phone")
    return binding.student


def _mine(s, student: Student, code: str) -> Certificate:
    code = certificates.normalise_code(code)
    cert = None
    if certificates.looks_like_code(code):
        cert = s.db.scalar(select(Certificate).where(Certificate.code == code, Certificate.student_id == student.id))
    if cert is None:
        raise ApiError(404, "certificate_not_found", "没有找到这份电子证明。")
    return cert


def _final_refused(change, *args) -> None:
    """Extend or close (the service locks the row and checks it); 409 when it is closed or revoked."""
    try:
        change(*args)
    except certificates.CertificateFinal:
        raise ApiError(409, "certificate_final", "这份电子证明已关闭或撤销，不能再修改。") from None


def _download(s, cert: Certificate) -> dict:
    d = s.domain
    now = s.now().timestamp()
    url = certificates.download_link(d.public_url, d.link_secret, cert.code, now)
    expires = datetime.fromtimestamp(int(now + certificates.LINK_SECONDS), UTC)
    return {"url": url, "expires_at": when(expires)}
