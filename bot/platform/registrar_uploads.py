"""Registrar files uploaded in the console: a dry run shown before anything is written, then the
import as an RQ job, with the same parser and rules as `gradcert import` (bot/platform/registrar).

The uploaded file holds ID numbers and phones: it is kept sealed (SM4-GCM, like other personal
data) in `office_imports` only from the upload until the import has run, was discarded, or was not
confirmed within HOLD_MINUTES; the parser reads a copy in a private temporary folder that is
removed as soon as it has read it. Previews and results keep counts, line numbers, field names and
the parser's masked reasons, never a value. Every step is audited with the file's SM3 digest.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.accounts import audit
from bot.platform import registrar
from bot.platform.crypto import PiiCipher, sm3
from bot.platform.idcard import mask_student_no
from models import ImportState, OfficeImport, StaffRole, StaffUser, as_utc, utcnow

SUFFIXES = (".csv", ".xlsx", ".xlsm")
HOLD_MINUTES = 60  # a preview not confirmed within this is dropped with its file
LISTED = 300  # refused rows, changes and conflicts kept for the page (the counts stay whole)
SEALED_AS = b"registrar file"
STATE_NAMES = {
    ImportState.PREVIEWED: "待确认",
    ImportState.QUEUED: "排队中",
    ImportState.RUNNING: "导入中",
    ImportState.DONE: "已完成",
    ImportState.FAILED: "失败",
    ImportState.DISCARDED: "已取消",
    ImportState.EXPIRED: "已过期",
}


class UploadRefused(ValueError):
    """The upload cannot be previewed; the message (Chinese) says why and what to do."""


@dataclass(frozen=True)
class Conflict:
    """Two sources for one student: which line (or the database) won, and why."""

    student: str  # masked student number
    lines: list[int]
    winner: str  # "第 N 行" or "数据库中的记录"
    reason: str


def _seal(cipher: PiiCipher, data: bytes) -> tuple[bytes, int]:
    return cipher.seal(base64.b64encode(data).decode(), SEALED_AS)


def _open(cipher: PiiCipher, upload: OfficeImport) -> bytes:
    return base64.b64decode(cipher.open(upload.sealed_file, upload.pii_key_version, SEALED_AS))


@contextmanager
def readable_copy(data: bytes, filename: str) -> Iterator[Path]:
    """The file in a private temporary folder (0700) for the parser, removed when done."""
    with tempfile.TemporaryDirectory(prefix="gradcert-import-") as folder:
        path = Path(folder) / f"upload{Path(filename).suffix.lower()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        yield path


def clean_filename(name: str) -> str:
    """The uploaded file's own name (no folders), at most 128 characters."""
    return Path((name or "").replace("\\", "/")).name[-128:] or "upload"


def receive(
    db: Session,
    sessions: sessionmaker,
    cipher: PiiCipher,
    staff: StaffUser,
    filename: str,
    data: bytes,
) -> OfficeImport:
    """Check, dry-run and keep (sealed) an uploaded registrar file; the caller commits."""
    filename = clean_filename(filename)
    if Path(filename).suffix.lower() not in SUFFIXES:
        raise UploadRefused("只能上传 CSV 或 XLSX 文件（教务系统导出的学籍表）。")
    if not data:
        raise UploadRefused("文件是空的，请重新导出后再上传。")
    with readable_copy(data, filename) as path:
        try:
            report = registrar.import_file(sessions, cipher, path, dry_run=True)
            found = conflicts(sessions, cipher, path)
        except registrar.ImportFormatError as problem:
            raise UploadRefused(f"文件无法读取：{problem}。请检查列名和编码后重新上传。") from None
    sealed, version = _seal(cipher, data)
    upload = OfficeImport(
        staff_id=staff.id,
        filename=filename,
        size=len(data),
        digest=sm3(data).hex(),
        sealed_file=sealed,
        pii_key_version=version,
        state=ImportState.PREVIEWED,
        preview=json.dumps(_summary(report, found), ensure_ascii=False),
    )
    db.add(upload)
    db.flush()
    return upload


def _summary(report: registrar.ImportReport, found: list[Conflict] | None = None) -> dict:
    return {
        "added": report.added,
        "changed": report.changed,
        "unchanged": report.unchanged,
        "superseded": report.superseded,
        "refused": len(report.rejected),
        "rejected": sorted(report.rejected)[:LISTED],
        "changes": report.changes[:LISTED],
        "conflicts": [vars(c) for c in (found or [])[:LISTED]],
        "conflict_count": len(found or []),
        "written": report.written,
        "certificates_revoked": report.certificates_revoked,
        "seconds": round(report.seconds, 1),
    }


def conflicts(sessions: sessionmaker, cipher: PiiCipher, path: Path) -> list[Conflict]:
    """Where two records of one student met: rows of the file against each other (main beats a
    campus, then the newer updated_at, then the first line), and rows that lose to the database."""
    records = registrar._valid_records(registrar.read_rows(path), registrar.ImportReport())
    by_student: dict[str, list[registrar.Record]] = {}
    for rec in records:
        by_student.setdefault(rec.student_no, []).append(rec)
    found = []
    winners = {}
    for number, recs in by_student.items():
        best = recs[0]
        for rec in recs[1:]:
            if rec.rank > best.rank:
                best = rec
        winners[number] = best
        if len(recs) > 1:
            losers = [r for r in recs if r is not best]
            found.append(
                Conflict(
                    mask_student_no(number),
                    sorted(r.line for r in recs),
                    f"第 {best.line} 行",
                    _why(best.rank, [r.rank for r in losers]),
                )
            )
    with sessions() as db:
        stored = registrar._stored(db, list(winners))
        for number, rec in winners.items():
            row = stored.get(number)
            if row is None or row.diploma_id is None:
                continue
            if registrar._changed_fields(cipher, rec, row) and rec.rank <= registrar._stored_rank(
                row
            ):
                found.append(
                    Conflict(
                        mask_student_no(number),
                        [rec.line],
                        "数据库中的记录",
                        _why(registrar._stored_rank(row), [rec.rank]),
                    )
                )
    return sorted(found, key=lambda c: c.lines[0])


def _why(best: tuple[bool, datetime], others: list[tuple[bool, datetime]]) -> str:
    if best[0] and not all(main for main, _at in others):
        return "主校区（main）的记录优先于分校区"
    if all(best[1] > at for _main, at in others):
        return "更新时间（updated_at）较新"
    return "更新时间相同，保留先出现的记录"


def drop_stale(db: Session, now: datetime) -> int:
    """Previews not confirmed within HOLD_MINUTES: their files are dropped."""
    cutoff = now - timedelta(minutes=HOLD_MINUTES)
    result = db.execute(
        update(OfficeImport)
        .where(OfficeImport.state == ImportState.PREVIEWED, OfficeImport.created_at < cutoff)
        .values(state=ImportState.EXPIRED, sealed_file=None)
    )
    return result.rowcount or 0


def may_confirm(upload: OfficeImport, now: datetime) -> str | None:
    """None when the upload can be imported now, else why not (Chinese)."""
    if upload.state is ImportState.PREVIEWED and as_utc(upload.created_at) < now - timedelta(
        minutes=HOLD_MINUTES
    ):
        return f"预览已超过 {HOLD_MINUTES} 分钟未确认，文件已删除，请重新上传。"
    if upload.state is not ImportState.PREVIEWED or upload.sealed_file is None:
        return "这个文件已经导入或已取消，不能再次确认。"
    return None


def may_import(user: StaffUser | None) -> bool:
    """Directors import registrar files."""
    return bool(user and user.active and user.role == StaffRole.DIRECTOR)


def confirm(db: Session, upload: OfficeImport) -> None:
    """Queue the import (the caller enqueues `run` after the commit)."""
    upload.state = ImportState.QUEUED


def discard(db: Session, upload: OfficeImport) -> None:
    """Drop a preview and its file."""
    upload.state, upload.sealed_file = ImportState.DISCARDED, None


def run(sessions: sessionmaker, cipher: PiiCipher, import_id: int) -> OfficeImport | None:
    """The import itself (an RQ job): runs once, records the result, drops the file."""
    with sessions() as db:
        upload = db.scalar(
            select(OfficeImport).where(OfficeImport.id == import_id).with_for_update()
        )
        if upload is None or upload.state is not ImportState.QUEUED:
            return None  # already run by another delivery of the job, or cancelled
        upload.state, upload.started_at = ImportState.RUNNING, utcnow()
        data = _open(cipher, upload)
        db.commit()
    try:
        with readable_copy(data, upload.filename) as path:
            report = registrar.import_file(sessions, cipher, path)
        state, result, error = ImportState.DONE, _summary(report), None
    except registrar.ImportFormatError as problem:
        state, result, error = ImportState.FAILED, None, str(problem)[:255]
    except Exception as problem:  # noqa: BLE001 (recorded and shown; the worker logs it too)
        state, result, error = ImportState.FAILED, None, type(problem).__name__
        with sessions() as db:
            _finish(db, import_id, state, result, error)
        raise
    with sessions() as db:
        return _finish(db, import_id, state, result, error)


def _finish(db: Session, import_id: int, state, result, error) -> OfficeImport:
    upload = db.get(OfficeImport, import_id)
    upload.state, upload.finished_at, upload.error = state, utcnow(), error
    upload.result = json.dumps(result, ensure_ascii=False) if result else None
    upload.sealed_file = None
    staff = db.get(StaffUser, upload.staff_id) if upload.staff_id else None
    audit(
        db,
        None,
        "registrar_import",
        result=state.value,
        detail=audit_detail(upload, result),
        actor_staff=staff.username if staff else None,
    )
    db.commit()
    return upload


def audit_detail(upload: OfficeImport, figures: dict | None = None) -> str:
    """The audit line of an upload or import: digest, name and counts (never a value)."""
    counts = ""
    if figures:
        counts = (
            f" added={figures['added']} changed={figures['changed']} "
            f"unchanged={figures['unchanged']} superseded={figures['superseded']} "
            f"refused={figures['refused']}"
        )
    return f"#{upload.id} sm3={upload.digest}{counts} file={upload.filename}"[:255]
