"""Electronic certificates: verification codes, the canonical content that is signed, issue /
extend / close / revoke (each one a ledger entry), status, and signed download links."""

from __future__ import annotations

import hmac
import json
import secrets
import time
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.diploma import ledger
from bot.diploma.keyring import Keyring, Verdict
from bot.platform.crypto import hmac_sm3, sm3
from models import Certificate, Diploma, DiplomaStatus, Student, as_utc, utcnow

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols, no 0/O/1/I: 16 of them = 80 bits
CODE_LENGTH = 16
MIN_DAYS, MAX_DAYS = 30, 180
LINK_SECONDS = 72 * 3600


class CertStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    CLOSED = "closed"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


FINAL = (CertStatus.CLOSED, CertStatus.REVOKED)


class CertificateFinal(Exception):
    """The certificate is closed or revoked: it cannot be extended or closed any more."""


def new_code() -> str:
    """A fresh 16-character verification code."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """What someone typed (spaces, dashes, lower case) as a code; may not be a valid one."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def looks_like_code(code: str) -> bool:
    """Right length and alphabet."""
    return len(code) == CODE_LENGTH and all(ch in ALPHABET for ch in code)


def canonical_content(cert: Certificate, student: Student, diploma: Diploma, school: str) -> str:
    """The signed text: what an employer sees, in a fixed JSON form (no ID number, no phone)."""
    return json.dumps(
        {
            "v": 1,
            "code": cert.code,
            "school": school,
            "name": student.name,
            "level": diploma.level,
            "major": diploma.major,
            "study_mode": diploma.study_mode,
            "campus": diploma.campus,
            "grad_date": diploma.grad_date.isoformat() if diploma.grad_date else None,
            "certificate_no": diploma.certificate_no,
            "valid_from": _iso(cert.valid_from),
            "valid_until": _iso(cert.valid_until),
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def content_digest(cert: Certificate) -> str:
    """SM3 of the stored canonical content."""
    return sm3(cert.content.encode()).hex()


def checked_digest(cert: Certificate) -> str:
    """The content digest, or "inconsistent" when the row's columns disagree with what was signed."""
    try:
        signed = json.loads(cert.content)
    except ValueError:
        return "inconsistent"
    if signed.get("code") != cert.code or signed.get("valid_until") != _iso(cert.valid_until):
        return "inconsistent"
    return content_digest(cert)


def issue(
    db: Session,
    keyring: Keyring,
    student: Student,
    diploma: Diploma,
    account_id: int | None,
    days: int,
    school: str,
    now: datetime | None = None,
    submission_key: str | None = None,
) -> Certificate:
    """A new certificate valid for `days` (30-180), signed and entered in the ledger."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError("validity must be 30 to 180 days")
    now = now or utcnow()
    cert = Certificate(
        code=new_code(),
        student_id=student.id,
        diploma_id=diploma.id,
        issued_by_account_id=account_id,
        issued_at=now,
        valid_from=now,
        valid_until=now + timedelta(days=days),
        submission_key=submission_key,
    )
    _sign(db, cert, keyring, student, diploma, school)
    db.add(cert)
    db.flush()
    ledger.append(db, cert, "issued")
    return cert


def extend(
    db: Session,
    keyring: Keyring,
    cert: Certificate,
    days: int,
    school: str,
    now: datetime | None = None,
) -> Certificate:
    """Valid `days` from now (30-180), re-signed; a new ledger entry. CertificateFinal when it
    is closed or revoked."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError("validity must be 30 to 180 days")
    now = now or utcnow()
    _changeable(db, cert, now)
    cert.valid_until = now + timedelta(days=days)
    _sign(db, cert, keyring, cert.diploma.student, cert.diploma, school)
    ledger.append(db, cert, "extended")
    return cert


def close(db: Session, cert: Certificate, now: datetime | None = None) -> Certificate:
    """Closed by its holder: verification then says so. CertificateFinal when it is closed or
    revoked already."""
    now = now or utcnow()
    _changeable(db, cert, now)
    cert.closed_at = now
    ledger.append(db, cert, "closed")
    return cert


def revoke(db: Session, cert: Certificate, reason: str, now: datetime | None = None) -> Certificate:
    """Revoked by the school (e.g. the diploma was revoked)."""
    cert.revoked_at = now or utcnow()
    cert.revoked_reason = reason[:255]
    ledger.append(db, cert, "revoked")
    return cert


def revoke_for_revoked_diplomas(db: Session, now: datetime | None = None) -> int:
    """Revoke the live certificates of diplomas the registrar revoked (call in the import's
    transaction); returns how many."""
    live = db.scalars(
        select(Certificate)
        .join(Diploma, Certificate.diploma_id == Diploma.id)
        # closed by its holder stays closed: it shows nothing
        .where(
            Diploma.status == DiplomaStatus.REVOKED,
            Certificate.revoked_at.is_(None),
            Certificate.closed_at.is_(None),
        )
    ).all()
    for cert in live:
        revoke(db, cert, "学历已被学校撤销 diploma revoked by the registrar", now)
    return len(live)


def status(cert: Certificate | None, now: datetime | None = None) -> CertStatus:
    """What a verifier is told."""
    if cert is None:
        return CertStatus.UNKNOWN
    if (
        cert.closed_at is not None
    ):  # the holder's choice to show nothing outlasts a later revocation
        return CertStatus.CLOSED
    if cert.revoked_at is not None or cert.diploma.status == DiplomaStatus.REVOKED:
        return CertStatus.REVOKED
    if as_utc(cert.valid_until) < (now or utcnow()):
        return CertStatus.EXPIRED
    return CertStatus.VALID


def verdict(
    db: Session,
    cert: Certificate,
    keyring: Keyring,
    recalled: dict[str, bool | None] | None = None,
) -> Verdict:
    """Whether the stored content matches its digest and carries the school's signature (by the
    key the certificate names), and whether SM2 had to run to tell; `recalled`: verdicts already
    read from Redis, by `verdict_key`."""
    if content_digest(cert) != cert.digest:
        return Verdict(False, False)
    return keyring.verify(db, cert.signing_key, cert.content.encode(), cert.signature, recalled)


def verdict_key(cert: Certificate, keyring: Keyring) -> str:
    """Where the verdict on `cert`'s signature (by the first key it is tried with) is kept."""
    return keyring.verdict_key(cert.signing_key, cert.content.encode(), cert.signature)


def is_genuine(db: Session, cert: Certificate, keyring: Keyring) -> bool:
    """The stored content matches its digest and carries the school's signature."""
    return verdict(db, cert, keyring).genuine


def download_link(public_url: str, secret: str, code: str, now: float | None = None) -> str:
    """A signed link to the PDF, valid for 72 hours."""
    expires = int((now or time.time()) + LINK_SECONDS)
    return f"{public_url.rstrip('/')}/c/{code}.pdf?e={expires}&s={_link_mac(secret, code, expires)}"


def check_download(
    secret: str, code: str, expires: str, mac: str, now: float | None = None
) -> bool:
    """True for an unexpired link that we signed."""
    try:
        expiry = int(expires)
    except (TypeError, ValueError):
        return False
    return expiry >= (now or time.time()) and hmac.compare_digest(
        _link_mac(secret, code, expiry).encode(), (mac or "").encode()
    )


def _link_mac(secret: str, code: str, expires: int) -> str:
    return hmac_sm3(secret.encode(), f"download|{code}|{expires}".encode()).hex()[:32]


def _changeable(db: Session, cert: Certificate, now: datetime) -> None:
    """Lock the row and re-read it, so that a revocation (import) and a change by the holder on
    another device cannot interleave; CertificateFinal when it is closed or revoked."""
    db.refresh(cert, with_for_update={"of": Certificate})
    state = status(cert, now)
    if state in FINAL:
        raise CertificateFinal(f"certificate {cert.code} is {state.value}")


def _sign(
    db: Session,
    cert: Certificate,
    keyring: Keyring,
    student: Student,
    diploma: Diploma,
    school: str,
) -> None:
    cert.content = canonical_content(cert, student, diploma, school)
    cert.digest = content_digest(cert)
    cert.signing_key, cert.signature = keyring.sign(db, cert.content.encode())


def _iso(moment: datetime) -> str:
    return as_utc(moment).replace(microsecond=0).isoformat()
