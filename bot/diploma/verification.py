"""What a certificate code shows anyone who checks it: its state, whether its signature holds, and
the facts an employer needs (never an ID number, phone or student number). The public page
(`/v/<code>`) and the API of organisations (`POST /api/v1/verifications`) both answer from here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.diploma import certificates
from bot.diploma.keyring import Keyring
from models import Certificate

SHOWN_STATES = {"valid", "expired", "revoked"}  # a certificate closed by its holder shows only that
FIELDS = (
    "school",
    "name",
    "level",
    "major",
    "study_mode",
    "grad_date",
    "certificate_no",
    "valid_until",
)


@dataclass(frozen=True)
class PublicFacts:
    """The answer about one code; `certificate` is for audit and notices, never shown."""

    code: str
    state: str  # a CertStatus value, or "tampered"
    genuine: bool | None = None
    fields: dict | None = None
    signature: str | None = None
    digest: str | None = None
    valid_until: datetime | None = None
    certificate: Certificate | None = None
    public_key: str | None = None  # of the key that signed it (None: unknown code)
    fingerprint: str | None = None
    slow: bool = False  # SM2 had to run (the verdict was not remembered)


def public_facts(db: Session, keyring: Keyring, code: str) -> PublicFacts:
    """The facts of a normalised code (`unknown` when it is malformed or not ours)."""
    return facts_of(db, keyring, code, find(db, code))


def find(db: Session, code: str) -> Certificate | None:
    """The certificate of a normalised code, if it is one of ours."""
    if not certificates.looks_like_code(code):
        return None
    return db.scalar(select(Certificate).where(Certificate.code == code))


def facts_of(
    db: Session,
    keyring: Keyring,
    code: str,
    cert: Certificate | None,
    recalled: dict[str, bool | None] | None = None,
) -> PublicFacts:
    """The facts of `code`, whose certificate (None: unknown) was found; `recalled`: verdicts
    already read from Redis (bot.diploma.keyring.Keyring.verify)."""
    if cert is None:
        return PublicFacts(code, "unknown")
    verdict = certificates.verdict(db, cert, keyring, recalled)
    state = certificates.status(cert).value if verdict.genuine else "tampered"
    fields = until = None
    if state in SHOWN_STATES and cert.closed_at is None:
        content = json.loads(cert.content)
        fields = {name: content.get(name) for name in FIELDS}
        until = datetime.fromisoformat(content["valid_until"])
    key = keyring.key_of(db, cert.signing_key)
    return PublicFacts(
        code,
        state,
        verdict.genuine,
        fields,
        cert.signature,
        cert.digest,
        until,
        cert,
        key.public_hex,
        key.fingerprint,
        verdict.computed,
    )


def name_matches(facts: PublicFacts, name: str) -> bool | None:
    """Whether a name given by a verifier is the holder's (spaces and the middle dot ignored);
    None when no name was given or the certificate shows no name."""
    if not name or not facts.certificate:
        return None
    holder = facts.certificate.diploma.student.name
    return _plain(name) == _plain(holder)


def _plain(name: str) -> str:
    return "".join(name.split()).replace("·", "").replace("•", "").casefold()
