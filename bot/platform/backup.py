"""Backups: one archive with the database (pg_dump, or SQLite's backup API), the attachment folder
and the key material sealed under a passphrase; a restore that proves itself afterwards (the ledger
is intact, a certificate's signature verifies, a student's ID number decrypts and matches its
blind index).

Archive (tar.gz): manifest.json, keys.sealed (scrypt -> SM4-GCM), database.pgdump or
database.sqlite, attachments/... The keys are useless without the passphrase, and the database is
useless without the keys: keep the passphrase apart from the archive (a sealed envelope).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.diploma import certificates, ledger
from bot.diploma.keyring import Keyring
from bot.platform.crypto import DecryptionFailed, PiiCipher
from bot.platform.signing import Sm2Signer
from models import Certificate, LedgerEntry, Student, make_engine, make_session_factory, utcnow

FORMAT = 1
KEY_NAMES = (
    "GRADCERT_SECRET_KEY",
    "WECHAT_TOKEN",
    "GRADCERT_PII_KEYS",
    "GRADCERT_INDEX_KEY",
    "GRADCERT_SM2_PRIVATE_KEY",
)
SCRYPT_N = 2**15
Progress = Callable[[str, int, int], None]  # (what, done, total)


class BackupError(Exception):
    """The archive cannot be written or restored; the message says why."""


@dataclass
class RestoreReport:
    """What the restore checked; `ok` when every check passed."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def check(self, passed: bool, text: str) -> None:
        self.ok = self.ok and passed
        self.lines.append(("ok    " if passed else "FAILED ") + text)


def seal_keys(keys: dict[str, str], passphrase: str) -> bytes:
    """The key material as JSON, sealed with SM4-GCM under a key stretched from `passphrase`."""
    salt, nonce = os.urandom(16), os.urandom(12)
    key = Scrypt(salt=salt, length=16, n=SCRYPT_N, r=8, p=1).derive(passphrase.encode())
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    body = enc.update(json.dumps(keys).encode()) + enc.finalize() + enc.tag
    parts = {"kdf": "scrypt", "n": SCRYPT_N, "salt": salt, "nonce": nonce, "sealed": body}
    return json.dumps(
        {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in parts.items()}
    ).encode()


def open_keys(sealed: bytes, passphrase: str) -> dict[str, str]:
    """The key material, or BackupError for a wrong passphrase or a damaged file."""
    doc = json.loads(sealed)
    salt, nonce, body = (base64.b64decode(doc[k]) for k in ("salt", "nonce", "sealed"))
    key = Scrypt(salt=salt, length=16, n=int(doc["n"]), r=8, p=1).derive(passphrase.encode())
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, body[-16:])).decryptor()
    try:
        return json.loads(dec.update(body[:-16]) + dec.finalize())
    except InvalidTag:
        raise BackupError("wrong passphrase (or a damaged archive): nothing restored") from None


def backup(
    url: str,
    keys: dict[str, str],
    attachment_dir: str | None,
    passphrase: str,
    out: str | Path,
    progress: Progress | None = None,
) -> dict:
    """Write the archive to `out`; its manifest. `attachment_dir` None: attachments live in S3."""
    progress = progress or (lambda *_: None)
    manifest = {"format": FORMAT, "created_at": utcnow().isoformat(), **_census(url)}
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / ("database.sqlite" if _is_sqlite(url) else "database.pgdump")
        progress("database", 0, 1)
        _dump(url, dump)
        progress("database", 1, 1)
        files = sorted(_files(attachment_dir)) if attachment_dir else []
        manifest["attachments"] = None if attachment_dir is None else len(files)
        with tarfile.open(out, "w:gz") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
            _add_bytes(tar, "keys.sealed", seal_keys({k: keys[k] for k in KEY_NAMES}, passphrase))
            tar.add(dump, dump.name)
            for i, path in enumerate(files, 1):
                tar.add(path, f"attachments/{path.relative_to(attachment_dir).as_posix()}")
                progress("attachments", i, len(files))
    os.chmod(out, 0o600)
    return manifest


def read_keys(archive: str | Path, passphrase: str) -> dict[str, str]:
    """The archive's key material (checks the passphrase before anything is touched)."""
    with tarfile.open(archive, "r:gz") as tar:
        return open_keys(_member(tar, "keys.sealed"), passphrase)


def restore(
    archive: str | Path,
    url: str,
    attachment_dir: str | None,
    passphrase: str,
    progress: Progress | None = None,
) -> tuple[dict[str, str], RestoreReport]:
    """Put the archive's database and attachments back; (its keys, the verification report)."""
    progress = progress or (lambda *_: None)
    with tarfile.open(archive, "r:gz") as tar:
        keys = open_keys(_member(tar, "keys.sealed"), passphrase)
        manifest = json.loads(_member(tar, "manifest.json"))
        with tempfile.TemporaryDirectory() as tmp:
            names = tar.getnames()
            dump_name = "database.sqlite" if _is_sqlite(url) else "database.pgdump"
            if dump_name not in names:
                raise BackupError(
                    f"this archive holds no {dump_name} for {make_url(url).drivername}"
                )
            tar.extract(dump_name, tmp, filter="data")
            progress("database", 0, 1)
            _load(url, Path(tmp) / dump_name)
            progress("database", 1, 1)
            files = [
                m for m in tar.getmembers() if m.name.startswith("attachments/") and m.isfile()
            ]
            if attachment_dir is not None:
                for i, member in enumerate(files, 1):
                    tar.extract(member, tmp, filter="data")
                    target = Path(attachment_dir) / member.name.removeprefix("attachments/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(Path(tmp) / member.name, target)
                    progress("attachments", i, len(files))
    return keys, verify_restored(url, keys, manifest, len(files))


def verify_restored(
    url: str, keys: dict[str, str], manifest: dict, attachments: int
) -> RestoreReport:
    """The ledger is intact, the certificate named in the manifest verifies with the restored
    keyring, a student's ID number decrypts with the restored keys and matches its index."""
    report = RestoreReport()
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as db:
            broken = ledger.verify(db, certificates.checked_digest)
            entries = db.scalar(select(func.count()).select_from(LedgerEntry))
            report.check(
                broken is None and entries == manifest["ledger_entries"],
                f"ledger: {entries} entries (backup: {manifest['ledger_entries']})"
                + (f", BROKEN at {broken.seq}: {broken.reason}" if broken else ", intact"),
            )
            code = manifest.get("certificate")
            if code:
                cert = db.scalar(select(Certificate).where(Certificate.code == code))
                keyring = Keyring(Sm2Signer(keys["GRADCERT_SM2_PRIVATE_KEY"]))
                genuine = cert is not None and certificates.is_genuine(db, cert, keyring)
                report.check(genuine, f"certificate {code}: signature verifies")
            report.check(
                _student_opens(db, keys, manifest.get("student")),
                f"student #{manifest.get('student')}: ID number decrypts and matches its index",
            )
            students = db.scalar(select(func.count()).select_from(Student))
            report.check(
                students == manifest["students"],
                f"students: {students} (backup: {manifest['students']})",
            )
    finally:
        engine.dispose()
    if manifest.get("attachments") is not None:
        report.check(
            attachments == manifest["attachments"],
            f"attachments: {attachments} files (backup: {manifest['attachments']})",
        )
    return report


def _student_opens(db, keys: dict[str, str], student_id: int | None) -> bool:
    if student_id is None:
        return True  # nothing sealed yet
    student = db.get(Student, student_id)
    if student is None or student.id_number_enc is None:
        return False
    cipher = PiiCipher.from_config(keys["GRADCERT_PII_KEYS"], keys["GRADCERT_INDEX_KEY"])
    try:
        id_number = cipher.open(student.id_number_enc, student.pii_key_version, b"id")
    except DecryptionFailed:
        return False
    return cipher.index("id", id_number) == student.id_number_index


def _census(url: str) -> dict:
    """What the restore will check: counts, the newest certificate, a sealed student."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as db:
            return {
                "ledger_entries": db.scalar(select(func.count()).select_from(LedgerEntry)),
                "students": db.scalar(select(func.count()).select_from(Student)),
                "certificate": db.scalar(
                    select(Certificate.code).order_by(Certificate.id.desc()).limit(1)
                ),
                "student": db.scalar(
                    select(Student.id)
                    .where(Student.id_number_enc.is_not(None))
                    .order_by(Student.id)
                    .limit(1)
                ),
            }
    finally:
        engine.dispose()


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as libpq understands it (no +driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _dump(url: str, target: Path) -> None:
    if _is_sqlite(url):
        source = sqlite3.connect(make_url(url).database)
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)  # a consistent copy, even while the service writes
        finally:
            dest.close()
            source.close()
        return
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _libpq(url)])


def _load(url: str, dump: Path) -> None:
    if _is_sqlite(url):
        target = make_url(url).database
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(dump)
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
        return
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_libpq(url)}",
            str(dump),
        ]
    )


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError:
        raise BackupError(
            f"{argv[0]} is not installed (apt-get install postgresql-client)"
        ) from None
    if done.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {done.stderr.strip()[-500:]}")


def _files(directory: str) -> Iterator[Path]:
    base = Path(directory)
    if base.is_dir():
        yield from (p for p in base.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    try:
        return tar.extractfile(name).read()
    except KeyError:
        raise BackupError(f"not a gradcert backup: {name} is missing") from None


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(utcnow().timestamp())
    tar.addfile(info, io.BytesIO(data))
