"""Organisations that verify certificates through the API: keys issued by directors (shown once,
stored hashed), revoked, limited per college day, and every lookup audited and told to the holder
("某单位于…查验了你的电子证明"). The answer itself is the public page's (bot.diploma.verification)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core import keys
from bot.core.accounts import audit
from bot.core.effects import push_accounts
from bot.core.messages import Effect
from bot.diploma import verification
from bot.platform.workdays import SHANGHAI, local
from bot.proxies.rules import graduate_accounts
from models import OrganisationLookup, VerifierKey, as_utc

KEY_PREFIX = "gcv_"
MAX_QUOTA = 100_000
MAX_DAYS = 3 * 366
RESULT_NAMES = {
    "valid": "有效",
    "expired": "已过期",
    "revoked": "已撤销",
    "closed": "已关闭",
    "tampered": "签名不符",
}


class KeyRefusal(StrEnum):
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"


class VerifierInputError(ValueError):
    """A key could not be issued; the message (Chinese) says why."""


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the row, and the key itself (shown once, never stored)."""

    key: VerifierKey
    plain: str


@dataclass(frozen=True)
class Verification:
    """The answer to one lookup: the public facts and whether the given name matched."""

    facts: verification.PublicFacts
    name_matched: bool | None


def issue_key(
    db: Session,
    organisation: str,
    contact: str,
    daily_quota: int | str,
    days: int | str,
    staff: str,
    now: datetime,
) -> IssuedKey:
    """A key for an organisation, valid `days` days with `daily_quota` lookups per college day."""
    organisation, contact = " ".join(organisation.split()), " ".join(contact.split())
    if not 2 <= len(organisation) <= 128:
        raise VerifierInputError("请填写单位名称（2-128 个字）。")
    if not 2 <= len(contact) <= 128:
        raise VerifierInputError("请填写联系人和联系方式（2-128 个字）。")
    quota, valid_days = _number(daily_quota), _number(days)
    if quota is None or not 1 <= quota <= MAX_QUOTA:
        raise VerifierInputError(f"每日查验次数应为 1-{MAX_QUOTA} 的整数。")
    if valid_days is None or not 1 <= valid_days <= MAX_DAYS:
        raise VerifierInputError(f"有效天数应为 1-{MAX_DAYS} 的整数。")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = VerifierKey(
        organisation=organisation,
        contact=contact,
        key_prefix=plain[:12],
        key_hash=key_hash(plain),
        daily_quota=quota,
        expires_at=now + timedelta(days=valid_days),
        created_at=now,
        created_by=staff,
    )
    db.add(key)
    db.flush()
    return IssuedKey(key, plain)


def key_hash(plain: str) -> str:
    """The stored form of a key (keys are 256-bit random: a plain SHA-256 is enough)."""
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


def key_for(
    db: Session, presented: str, now: datetime
) -> tuple[VerifierKey | None, KeyRefusal | None]:
    """The key a request presents, or why it may not be used."""
    if not presented.startswith(KEY_PREFIX) or len(presented) > 128:
        return None, KeyRefusal.UNKNOWN
    digest = key_hash(presented)
    key = db.scalar(select(VerifierKey).where(VerifierKey.key_hash == digest))
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None, KeyRefusal.UNKNOWN
    if key.revoked_at is not None:
        return key, KeyRefusal.REVOKED
    if as_utc(key.expires_at) <= now:
        return key, KeyRefusal.EXPIRED
    return key, None


def revoke_key(key: VerifierKey, staff: str, now: datetime) -> bool:
    """Revoke a key at once (False when it already was)."""
    if key.revoked_at is not None:
        return False
    key.revoked_at, key.revoked_by = now, staff
    return True


def take_quota(redis, key: VerifierKey, now: datetime) -> int:
    """Count one lookup against today's quota (college day, one atomic INCR); the seconds until
    the quota renews when it is spent, else 0."""
    today = local(now)
    tomorrow = datetime.combine(today.date() + timedelta(days=1), datetime.min.time(), SHANGHAI)
    wait = max(1, int((tomorrow - today).total_seconds()))
    counter = keys.verifier_quota(key.id, f"{today:%Y%m%d}")
    pipe = redis.pipeline()
    pipe.incr(counter)
    pipe.expire(counter, wait + 86400)
    used, _ = pipe.execute()
    return wait if used > key.daily_quota else 0


def used_today(redis, key: VerifierKey, now: datetime) -> int:
    """Lookups counted today (the console shows it)."""
    return int(redis.get(keys.verifier_quota(key.id, f"{local(now):%Y%m%d}")) or 0)


def verify(s, key: VerifierKey, code: str, name: str | None) -> Verification:
    """Look a code up for an organisation: audited, and the holder told when it is theirs. The
    lookup row is written first, so that the unit starts as a writer (SQLite: no read snapshot
    to upgrade while other lookups commit)."""
    now = s.now()
    lookup = OrganisationLookup(key_id=key.id, at=now, code=code[:16], result="unknown")
    s.db.add(lookup)
    s.db.flush()
    s.db.execute(update(VerifierKey).where(VerifierKey.id == key.id).values(last_used_at=now))
    facts = verification.public_facts(s.db, s.domain.keyring, code)
    matched = verification.name_matches(facts, name or "")
    cert = facts.certificate
    lookup.certificate_id = cert.id if cert else None
    lookup.result, lookup.name_matched = facts.state, matched
    s.db.flush()
    audit(
        s.db,
        None,
        "third_party_verify",
        subject_student_id=cert.student_id if cert else None,
        result=facts.state,
        detail=f"key={key.id} {key.key_prefix} name_matched={matched}",
    )
    if cert is not None:
        accounts = [a.id for a in graduate_accounts(s.db, cert.student_id)]
        text = s.book.render(
            "verifier/looked_up",
            organisation=key.organisation,
            when=f"{local(now):%Y-%m-%d %H:%M}",
            code=cert.code,
            result=RESULT_NAMES.get(facts.state, facts.state),
        )
        if accounts:
            s.effects.append(
                Effect(
                    push_accounts,
                    {"account_ids": accounts, "text": text},
                    key=f"verified:{lookup.id}",
                )
            )
    return Verification(facts, matched)


def _number(value: int | str) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None
