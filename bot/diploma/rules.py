"""What a graduate (or a proxy acting for them) may see of the diploma record and do with its
electronic certificates: the freshness of the last code check, the state of the record (shown,
revoked, or when it should appear), and the holder's actions (look up, issue, download, extend,
close). Each action returns a result with its refusal, if any, and the effects to run after the
commit: the graduate is told when a proxy acted, and the audit trail names the proxy. The chat's
diploma script and the mini-program API only present these results; bot/diploma/certificates.py
keeps the signed document and its ledger (shared with the verification page, the import and the
CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.college import MAIN, College
from bot.core.messages import Effect
from bot.core.replies import Refused
from bot.diploma import certificates
from bot.diploma.files import render_certificate
from bot.platform.workdays import add_working_days, today_in_china
from bot.proxies.rules import audit_detail, told_graduate
from models import Binding, Certificate, Diploma, DiplomaStatus, Proxy, Student, as_utc

FRESH_CODE = timedelta(minutes=10)
NOT_LONGER = "certificate_not_longer"  # extending would end it sooner than it ends now


class RecordState(StrEnum):
    """Each state has its own chat reply (templates/replies/diploma/<value>.txt)."""

    RECORD = "record"  # registered and valid: shown
    REVOKED = "revoked"
    NO_RECORD = "no_record"
    NOT_LEFT = "not_left"  # no leave date yet
    NOT_LEFT_YET = "not_left_yet"  # leaves in the future
    PENDING = "pending"  # left; the record should appear by `expected`
    OVERDUE = (
        "overdue"  # should have appeared by now (main campus: at once, so a registrar problem)
    )


@dataclass(frozen=True)
class RecordView:
    state: RecordState
    diploma: Diploma | None = None
    expected: date | None = None


@dataclass
class Lookup:
    """A look-up of the record: what may be said about it today, and the effects to run."""

    view: RecordView
    effects: list[Effect] = field(default_factory=list)


@dataclass(frozen=True)
class DownloadLink:
    """A signed link to a certificate's PDF, and when it stops working."""

    url: str
    expires_at: datetime


@dataclass
class CertificateResult:
    """What an action on a certificate came to: the certificate (with a download link), or the
    refusal, and the effects to run after the commit."""

    cert: Certificate | None = None
    link: DownloadLink | None = None
    refused: Refused | None = None
    effects: list[Effect] = field(default_factory=list)


def code_is_fresh(binding: Binding, now: datetime) -> bool:
    """True when the binding's last SMS code check is at most 10 minutes old."""
    return binding.verified_at is not None and as_utc(binding.verified_at) >= now - FRESH_CODE


def expected_sync_date(diploma: Diploma, college: College | None = None) -> date | None:
    """When the record can be queried, by the college's sync rule for its source: the main campus
    in real time (the leave date itself), a campus N working days after leaving (3 by default; the
    campus's 48-hour lag is inside those days; the holiday calendar applies)."""
    if diploma.leave_date is None:
        return None
    days = (college or College()).sync_working_days(diploma.source)
    return add_working_days(diploma.leave_date, days) if days else diploma.leave_date


def record_view(
    db: Session, student: Student, now: datetime, college: College | None = None
) -> RecordView:
    """The student's diploma and what may be said about it today. A record synced in real time
    that is missing once its graduate has left is overdue at once: a registrar problem, not a wait."""
    diploma = db.scalar(select(Diploma).where(Diploma.student_id == student.id))
    if diploma is None:
        return RecordView(RecordState.NO_RECORD)
    if diploma.certificate_no:
        revoked = diploma.status == DiplomaStatus.REVOKED
        return RecordView(RecordState.REVOKED if revoked else RecordState.RECORD, diploma)
    expected = expected_sync_date(diploma, college)
    today = today_in_china(now)
    if expected is None:
        return RecordView(RecordState.NOT_LEFT, diploma)
    if diploma.leave_date > today:
        return RecordView(RecordState.NOT_LEFT_YET, diploma, expected)
    if expected > diploma.leave_date and expected >= today:  # synced in real time: never a wait
        return RecordView(RecordState.PENDING, diploma, expected)
    return RecordView(RecordState.OVERDUE, diploma, expected)


def not_shown(
    view: RecordView, for_proxy: bool, college: College | None = None, today: date | None = None
) -> Refused:
    """Why the record is not shown (revoked, or when it should appear), in the words of its state's
    reply (templates/replies/diploma/<state>.txt), which also refuse a certificate. `days` is the
    campus's sync rule (0: real time), `peak` whether `today` is in the peak season."""
    college = college or College()
    d, values = view.diploma, whose(for_proxy)
    if view.state is RecordState.REVOKED:
        values = {"certificate_no": d.certificate_no}
    elif view.state is not RecordState.NO_RECORD:
        days = college.sync_working_days(d.source)
        values.update(
            leave=day_text(d.leave_date),
            expected=day_text(view.expected),
            campus=college.campus(d.source) if d.source != MAIN else "",
            days=days,
            peak=today is not None and college.is_peak(today),
        )
    return Refused("diploma_unavailable", f"diploma/{view.state}", values, view.state.value)


def whose(for_proxy: bool) -> dict:
    """Texts say 你 to the graduate and 毕业生 to a proxy acting for them (templates default to 你)."""
    return {"who": "毕业生"} if for_proxy else {}


def look_up(s, student: Student, acting: Proxy | None, via: str | None = None) -> Lookup:
    """The record as it may be shown today; audited; a proxy's look-up is told to the graduate."""
    view = record_view(s.db, student, s.now(), s.domain.college)
    s.audit(
        "view_diploma",
        student.id,
        result="shown" if view.state is RecordState.RECORD else "not_yet",
        detail=audit_detail(acting, via),
    )
    return Lookup(view, told_graduate(s, acting, "查询了毕业证书"))


def days_allowed(days: int) -> bool:
    """A certificate is valid for 30 to 180 days."""
    return certificates.MIN_DAYS <= days <= certificates.MAX_DAYS


def certificate_of(db: Session, student_id: int, code: str) -> Certificate | None:
    """The student's certificate with this code (as typed: spaces, dashes, lower case), if any."""
    code = certificates.normalise_code(code)
    if not certificates.looks_like_code(code):
        return None
    return db.scalar(
        select(Certificate).where(Certificate.code == code, Certificate.student_id == student_id)
    )


def issue_certificate(
    s, student: Student, days: int, acting: Proxy | None, submission_key: str | None = None
) -> CertificateResult:
    """A new certificate valid for `days`, while the record may be shown; the same one again for a
    submission issued already (its reply was lost)."""
    if submission_key is not None:
        issued = s.db.scalar(
            select(Certificate).where(Certificate.submission_key == submission_key)
        )
        if issued is not None:
            return CertificateResult(issued, _link(s, issued))
    view = record_view(s.db, student, s.now(), s.domain.college)
    if view.state is not RecordState.RECORD:  # e.g. revoked since the record was shown
        return CertificateResult(
            refused=not_shown(view, acting is not None, s.domain.college, today_in_china(s.now()))
        )
    cert = certificates.issue(
        s.db,
        s.domain.keyring,
        student,
        view.diploma,
        s.account.id,
        days,
        s.domain.school,
        s.now(),
        submission_key=submission_key,
    )
    return _done(s, cert, acting, "issue_certificate", "开具了电子证明", rendered=True)


def download_certificate(s, cert: Certificate, acting: Proxy | None) -> CertificateResult:
    """A signed link to the PDF, while the certificate is valid (not expired, closed or revoked)."""
    status = certificates.status(cert, s.now())
    if status is not certificates.CertStatus.VALID:
        refused = Refused(
            "certificate_not_valid",
            "diploma/cert_not_valid",
            {"code": cert.code, "state": status},
            status.value,
        )
        return CertificateResult(cert, refused=refused)
    return _done(s, cert, acting, "certificate_link", "下载了电子证明")


def extend_certificate(s, cert: Certificate, days: int, acting: Proxy | None) -> CertificateResult:
    """Valid for `days` from today, re-signed, unless it is closed or revoked. Extending never
    shortens: when it is valid beyond `days` from today already, it is refused and stays as it is."""
    new_end = s.now() + timedelta(days=days)
    if certificates.status(cert, s.now()) is certificates.CertStatus.VALID and new_end <= as_utc(
        cert.valid_until
    ):
        values = {
            "code": cert.code,
            "until": day_text(today_in_china(as_utc(cert.valid_until))),
            "days": days,
        }
        return CertificateResult(cert, refused=Refused(NOT_LONGER, "diploma/not_longer", values))
    try:
        certificates.extend(s.db, s.domain.keyring, cert, days, s.domain.school, s.now())
    except certificates.CertificateFinal:  # closed or revoked since it was picked
        return CertificateResult(cert, refused=_final(cert))
    return _done(s, cert, acting, "extend_certificate", "延长了电子证明", rendered=True)


def close_certificate(s, cert: Certificate, acting: Proxy | None) -> CertificateResult:
    """Closed by its holder (verification says so from now on), unless closed or revoked already."""
    try:
        certificates.close(s.db, cert, s.now())
    except certificates.CertificateFinal:
        return CertificateResult(cert, refused=_final(cert))
    return _done(s, cert, acting, "close_certificate", "关闭了电子证明", linked=False)


def _done(
    s,
    cert: Certificate,
    acting: Proxy | None,
    audited: str,
    told: str,
    *,
    rendered: bool = False,
    linked: bool = True,
) -> CertificateResult:
    """Audited (naming the proxy), with a download link; the PDF rendered anew when its content
    changed; the graduate told of what their proxy did."""
    s.audit(audited, cert.student_id, detail=audit_detail(acting, cert.code))
    effects = [Effect(render_certificate, {"certificate_id": cert.id})] if rendered else []
    return CertificateResult(
        cert, _link(s, cert) if linked else None, effects=effects + told_graduate(s, acting, told)
    )


def _final(cert: Certificate) -> Refused:
    return Refused("certificate_final", "diploma/cert_final", {"code": cert.code})


def _link(s, cert: Certificate) -> DownloadLink:
    d, now = s.domain, s.now().timestamp()
    url = certificates.download_link(d.public_url, d.link_secret, cert.code, now)
    return DownloadLink(url, datetime.fromtimestamp(int(now + certificates.LINK_SECONDS), UTC))


def day_text(value: date | None) -> str:
    """A date as the replies show it: 2021-07-01, or — when there is none."""
    return f"{value:%Y-%m-%d}" if value else "—"
