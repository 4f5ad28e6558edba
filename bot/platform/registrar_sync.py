"""The registrar sync (`gradcert sync`, and the worker's upkeep): rows pulled from the registrar's
own database through a read-only SQLAlchemy URL and a configured view or query.

The rows are read in keyset order (updated_at, student_no, source), in batches. Each batch goes
through the file import's rules (bot.platform.registrar: validation, main campus master, newer
timestamp wins, unchanged rows untouched) and is committed with the mark of its last row, so a
pass that fails half-way resumes after the last committed batch and re-reading a row changes
nothing. Ties on updated_at are ordered by student_no and source, so no row is skipped.

A row whose `deleted` column (optional) is true is a deletion: if it outranks the stored record
(by the same rule), the diploma is marked revoked and its live e-certificates revoked, in the
batch's transaction. Rows the rules refuse are kept in `registrar_refusals` (masked reasons) until
a later version of the row is accepted. The full pass (20:00 college time) reads everything again
from the start, which also catches a row committed late under an older updated_at.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from bot.diploma.certificates import revoke_for_revoked_diplomas
from bot.platform import registrar
from bot.platform.crypto import PiiCipher
from bot.platform.registrar_source import (
    KEY,
    RegistrarSource,
    SyncConfigError,
    decode_mark,
    encode_mark,
)
from models import Diploma, DiplomaStatus, Student, as_utc, utcnow
from models.registrar_sync import RegistrarRefusal, RegistrarSync

NAME = "registrar"
TRUE = ("1", "true", "t", "y", "yes", "是")
SHOWN_REFUSALS = 200  # refused rows the console lists


class SyncKind(StrEnum):
    INCREMENTAL = "incremental"
    FULL = "full"


@dataclass
class SyncReport:
    """What one pass did (all its batches)."""

    kind: SyncKind
    rows: int = 0
    batches: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    superseded: int = 0
    deleted: int = 0
    refused: int = 0
    certificates_revoked: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the CLI, the log and the console."""
        line = (
            f"{self.kind} pass: {self.rows} rows in {self.batches} batches; added {self.added}, "
            f"changed {self.changed}, unchanged {self.unchanged}, superseded {self.superseded}, "
            f"deleted {self.deleted}, refused {self.refused} ({self.seconds:.1f} s)"
        )
        if self.certificates_revoked:
            line += f"; revoked {self.certificates_revoked} e-certificates"
        return line


def sync(
    sessions: sessionmaker,
    cipher: PiiCipher,
    source: RegistrarSource,
    kind: SyncKind = SyncKind.INCREMENTAL,
    *,
    batch: int = 500,
    now: datetime | None = None,
) -> SyncReport:
    """One pass, batch by batch, each committed with its mark; a failure is recorded and raised."""
    started, clock = now or utcnow(), time.perf_counter()
    report = SyncReport(kind)
    with sessions() as db:
        state = _state(db)
        state.last_run_at = started
        if kind is SyncKind.FULL and state.full_mark is None:
            state.full_started_at = started
        mark = decode_mark(state.full_mark if kind is SyncKind.FULL else state.mark)
        db.commit()
    try:
        while rows := source.rows_after(mark, batch):
            mark = tuple(rows[-1][name] for name in KEY)
            with sessions() as db:
                apply_rows(db, cipher, rows, report)
                column = "full_mark" if kind is SyncKind.FULL else "mark"
                db.execute(
                    update(RegistrarSync)
                    .where(RegistrarSync.name == NAME)
                    .values({column: encode_mark(mark)})
                )
                db.commit()
            report.batches += 1
            if len(rows) < batch:
                break
        if kind is SyncKind.FULL:
            _refuse_undated(sessions, source, report)
    except Exception as exc:
        _failed(sessions, exc)
        raise
    report.seconds = time.perf_counter() - clock
    with sessions() as db:
        state = _state(db)
        state.last_success_at, state.last_error = started, None
        state.last_summary = report.summary()[:255]
        if kind is SyncKind.FULL:
            state.last_full_at = state.full_started_at or started
            state.full_mark = state.full_started_at = None
            if mark is not None:  # everything up to the end of the full pass has been read
                state.mark = encode_mark(mark)
        db.commit()
    return report


def apply_rows(db: Session, cipher: PiiCipher, rows: list[Mapping], report: SyncReport) -> None:
    """One batch through the import's rules, in `db`'s transaction (the caller commits)."""
    base = report.rows
    report.rows += len(rows)
    batch = registrar.ImportReport()
    records, deletions, keys = [], {}, {}
    for line, row in enumerate(rows, start=base + 1):
        keys[line] = (str(row["student_no"]), str(row["source"] or "").lower(), row["updated_at"])
        if str(row.get("deleted") or "").strip().lower() in TRUE:
            deletions[line] = _deletion(row)
            continue
        record, errors = registrar._record(line, {n: _value(row[n]) for n in registrar.COLUMNS})
        if errors:
            batch.rejected.append((line, "; ".join(errors)))
        else:
            records.append(record)
    winners = registrar._winners(records, batch)
    for line, (student_no, rank) in list(deletions.items()):
        if student_no in winners and winners[student_no].rank >= rank:
            del deletions[line]  # a newer or main row of the same batch stands
            batch.superseded += 1
        elif student_no in winners:
            del winners[student_no]
            batch.superseded += 1
    new, updates = registrar.settle(
        db, cipher, winners, batch, origin=lambda rec: f"student_no {rec.student_no}"
    )
    registrar._write(db, cipher, new, updates)
    report.deleted += _delete(db, deletions.values(), batch)
    report.certificates_revoked += revoke_for_revoked_diplomas(db)
    report.added += len(new)
    report.changed += len(updates)
    report.unchanged += batch.unchanged
    report.superseded += batch.superseded
    report.refused += len(batch.rejected)
    _keep_refusals(db, keys, dict(batch.rejected))


def due(
    state: RegistrarSync | None, now: datetime, every_minutes: int, full_at: str
) -> SyncKind | None:
    """Which pass the upkeep should run now: the full pass once a day from `full_at` (college
    time) or to finish one under way, else an incremental pass every `every_minutes` (0: never)."""
    last_run = as_utc(state.last_run_at) if state and state.last_run_at else None
    every = timedelta(minutes=max(every_minutes, 1))
    if state and state.full_mark is not None:  # a full pass stopped half-way: resume it, but
        retry = timedelta(minutes=max(every_minutes, 10))  # not every minute while it is down
        return SyncKind.FULL if last_run is None or now - last_run >= retry else None
    local_now = now.astimezone(registrar.SHANGHAI)
    hour, minute = (int(part) for part in full_at.split(":"))
    today_full = datetime.combine(local_now.date(), clock_time(hour, minute), registrar.SHANGHAI)
    last_full = as_utc(state.last_full_at) if state and state.last_full_at else None
    if local_now >= today_full and (last_full is None or last_full < today_full):
        return SyncKind.FULL
    if every_minutes > 0 and (last_run is None or now - last_run >= every):
        return SyncKind.INCREMENTAL
    return None


def current(db: Session) -> RegistrarSync | None:
    """The stored state of the sync (None before the first pass)."""
    return db.scalar(select(RegistrarSync).where(RegistrarSync.name == NAME))


def refusals(db: Session, limit: int = SHOWN_REFUSALS) -> tuple[list[RegistrarRefusal], int]:
    """The refused rows still waiting for a correction (newest first), and how many there are."""
    rows = db.scalars(
        select(RegistrarRefusal).order_by(RegistrarRefusal.seen_at.desc()).limit(limit)
    ).all()
    total = db.scalar(select(func.count()).select_from(RegistrarRefusal))
    return list(rows), total


def lag(state: RegistrarSync | None, now: datetime) -> timedelta | None:
    """How old our copy may be: the time since the start of the last finished pass."""
    if state is None or state.last_success_at is None:
        return None
    return now - as_utc(state.last_success_at)


def is_stale(state: RegistrarSync | None, now: datetime, every_minutes: int) -> bool:
    """True when no pass has finished for three intervals (25 hours with the daily pass only):
    the console warns that the connection or the worker needs a look."""
    age = lag(state, now)
    limit = timedelta(minutes=3 * every_minutes) if every_minutes > 0 else timedelta(hours=25)
    return age is not None and age > limit


def _deletion(row: Mapping) -> tuple[str, tuple[bool, datetime]]:
    """(student_no, rank) of a deletion row."""
    source = str(row["source"] or "").lower()
    return str(row["student_no"]), (
        source == registrar.MAIN,
        registrar._timestamp(_value(row["updated_at"])),
    )


def _delete(db: Session, deletions, batch: registrar.ImportReport) -> int:
    """Mark the diplomas of the deleted rows revoked, where the deletion outranks them."""
    done = 0
    for student_no, (is_main, at) in deletions:
        diploma = db.scalar(select(Diploma).join(Student).where(Student.student_no == student_no))
        if diploma is None or diploma.status == DiplomaStatus.REVOKED:
            batch.unchanged += 1
        elif (is_main, at) <= (diploma.source == registrar.MAIN, as_utc(diploma.source_updated_at)):
            batch.superseded += 1
        else:
            diploma.status = DiplomaStatus.REVOKED
            diploma.source_updated_at = at
            if is_main:
                diploma.source = registrar.MAIN
            done += 1
    db.flush()
    return done


def _keep_refusals(db: Session, keys: dict, reasons: dict[int, str]) -> None:
    """Refused rows are kept (one per student_no and source); an accepted row clears its own."""
    pairs = {(no, source) for no, source, _at in keys.values()}
    for no, source in pairs:
        db.execute(
            delete(RegistrarRefusal).where(
                RegistrarRefusal.student_no == no[:64], RegistrarRefusal.source == source[:32]
            )
        )
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    for line, reason in reasons.items():
        no, source, at = keys[line]
        latest[(no, source)] = (str(at)[:40], reason)
    for (no, source), (at, reason) in latest.items():
        db.add(
            RegistrarRefusal(
                student_no=no[:64], source=source[:32], source_updated_at=at, reason=reason
            )
        )
    db.flush()


def _refuse_undated(sessions: sessionmaker, source: RegistrarSource, report: SyncReport) -> None:
    rows = source.undated()
    if not rows:
        return
    with sessions() as db:
        keys = {
            i: (str(r["student_no"]), str(r["source"] or "").lower(), "")
            for i, r in enumerate(rows)
        }
        _keep_refusals(db, keys, {i: "updated_at 为空 empty updated_at" for i in keys})
        db.commit()
    report.refused += len(rows)


def _failed(sessions: sessionmaker, exc: Exception) -> None:
    """Record a failed pass; the message names the error's type only (no SQL, no values)."""
    with sessions() as db:
        state = _state(db)
        said = str(exc) if isinstance(exc, SyncConfigError) else type(exc).__name__
        state.last_error = said[:255]
        db.commit()


def _state(db: Session) -> RegistrarSync:
    state = db.scalar(select(RegistrarSync).where(RegistrarSync.name == NAME).with_for_update())
    if state is None:
        state = RegistrarSync(name=NAME)
        db.add(state)
        db.flush()
    return state


def _value(value: object) -> registrar.Value:
    """A source value as the import reads a cell: dates kept, numbers as text, None empty."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return str(value).strip()
