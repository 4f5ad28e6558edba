"""The append-only certificate ledger: each entry's hash covers the previous one, so changing any
row (or a certificate's content) breaks the chain from there on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.platform.crypto import sm3
from models import Certificate, LedgerEntry, utcnow

GENESIS = "0" * 64
LEDGER_LOCK = 0x6763_6C65  # "gcle"


def entry_hash(prev_hash: str, seq: int, event: str, certificate_digest: str) -> str:
    """SM3 over the previous hash and this entry's fields."""
    return sm3(f"{prev_hash}|{seq}|{event}|{certificate_digest}".encode()).hex()


def append(db: Session, certificate: Certificate, event: str) -> LedgerEntry:
    """Add an entry for `certificate` (call inside the transaction that changed it).

    Writers are serialised by a PostgreSQL advisory lock held to the end of the transaction; on
    SQLite (one writer at a time anyway) a lost race on `seq` is retried.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})
    for attempt in range(5):
        last = db.scalar(select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1))
        seq = (last.seq + 1) if last else 1
        prev = last.entry_hash if last else GENESIS
        entry = LedgerEntry(
            seq=seq,
            certificate_id=certificate.id,
            event=event,
            certificate_digest=certificate.digest,
            prev_hash=prev,
            entry_hash=entry_hash(prev, seq, event, certificate.digest),
            at=utcnow(),
        )
        try:
            with db.begin_nested():
                db.add(entry)
            return entry
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@dataclass
class Break:
    seq: int
    reason: str


def verify(
    db: Session, content_digest=None, published: tuple[int, str] | None = None
) -> Break | None:
    """Walk the chain; the first broken entry, or None when all is intact.

    With `content_digest` (certificate -> SM3 of its stored content, see
    certificates.checked_digest), a certificate that no longer matches the digest recorded at its
    last event is reported too, and so is one whose closed or revoked mark disagrees with its
    events (an un-revoked row). With `published` (seq, hash), a head published earlier must still
    be in the chain: entries cut off the end are found that way.
    """
    prev, expected_seq = GENESIS, 1
    latest: dict[int, str] = {}
    events: dict[int, set[str]] = {}
    last_seq: dict[int, int] = {}
    for entry in db.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)):
        if entry.seq != expected_seq:
            return Break(expected_seq, "missing entry")
        if entry.prev_hash != prev:
            return Break(entry.seq, "previous hash does not match")
        if entry.entry_hash != entry_hash(prev, entry.seq, entry.event, entry.certificate_digest):
            return Break(entry.seq, "entry hash does not match its fields")
        latest[entry.certificate_id] = entry.certificate_digest
        events.setdefault(entry.certificate_id, set()).add(entry.event)
        last_seq[entry.certificate_id] = entry.seq
        if published is not None and entry.seq == published[0] and entry.entry_hash != published[1]:
            return Break(entry.seq, "differs from the published head")
        prev, expected_seq = entry.entry_hash, expected_seq + 1
    if published is not None and expected_seq <= published[0]:
        return Break(expected_seq, f"entries up to the published head {published[0]} are missing")
    if content_digest is not None:
        for cert in db.scalars(select(Certificate).where(Certificate.id.in_(latest))):
            marks = {"revoked": cert.revoked_at is not None, "closed": cert.closed_at is not None}
            if any(marked != (event in events[cert.id]) for event, marked in marks.items()):
                return Break(
                    last_seq[cert.id], f"certificate {cert.code} is not in the state its events say"
                )
            if content_digest(cert) != latest[cert.id] or cert.digest != latest[cert.id]:
                seq = db.scalar(
                    select(LedgerEntry.seq)
                    .where(LedgerEntry.certificate_id == cert.id)
                    .order_by(LedgerEntry.seq.desc())
                )
                return Break(seq, f"certificate {cert.code} differs from its ledger digest")
    return None


def head(db: Session, day: date | None = None) -> LedgerEntry | None:
    """The last entry (of `day`, in UTC, when given): its hash is what gets published."""
    query = select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1)
    if day is not None:
        start = datetime(day.year, day.month, day.day, tzinfo=utcnow().tzinfo)
        query = query.where(LedgerEntry.at < start + timedelta(days=1))
    return db.scalar(query)
