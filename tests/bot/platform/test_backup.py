"""Backup and restore: the database (SQLite here, PostgreSQL in CI), the attachments and the sealed
keys come back, and the restore proves itself (ledger, a certificate, a student)."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from bot.platform.backup import BackupError, open_keys, read_keys, seal_keys, verify_restored
from handlers.cli import cli
from tests.conftest import _clean_database
from tests.handlers.web.test_verify import make_certificate

PASSPHRASE = "correct horse battery staple"


def _run(app, *args, passphrase=PASSPHRASE, monkeypatch=None):
    monkeypatch.setenv("GRADCERT_BACKUP_PASSPHRASE", passphrase)
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_a_backup_restores_and_verifies_after_the_data_is_lost(make_app, tmp_path, monkeypatch):
    attachments = tmp_path / "attachments"
    app = make_app(VERIFY_MIN_SECONDS=0, GRADCERT_ATTACHMENT_DIR=str(attachments))
    rt = app.extensions["gradcert"]
    code = make_certificate(app)
    rt.domain.attachments.put("appeals/7/photo-1.jpg", b"\xff\xd8 a photo", "image/jpeg")
    archive = tmp_path / "backup.tar.gz"

    made = _run(app, "backup", "--out", str(archive), monkeypatch=monkeypatch)
    assert made.exit_code == 0, made.output
    assert "5 students, 1 ledger entries, 1 attachments" in made.output
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        sealed = tar.extractfile("keys.sealed").read().decode()
    for name in ("GRADCERT_SM2_PRIVATE_KEY", "GRADCERT_PII_KEYS", "GRADCERT_INDEX_KEY"):
        assert app.config[name].split(":")[-1] not in sealed  # keys only sealed

    _clean_database(app.config["DATABASE_URL"])  # the disaster
    shutil.rmtree(attachments)
    client = app.test_client()
    assert client.get(f"/v/{code}.json").status_code == 404

    wrong = _run(
        app, "restore", str(archive), "--yes", passphrase="not it", monkeypatch=monkeypatch
    )
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output
    assert client.get(f"/v/{code}.json").status_code == 404  # nothing was touched

    done = _run(app, "restore", str(archive), "--yes", monkeypatch=monkeypatch)
    assert done.exit_code == 0, done.output
    assert "ok    ledger: 1 entries (backup: 1), intact" in done.output
    assert f"ok    certificate {code}: signature verifies" in done.output
    assert "ID number decrypts and matches its index" in done.output
    assert "ok    attachments: 1 files (backup: 1)" in done.output
    assert "restore verified" in done.output
    body = client.get(f"/v/{code}.json").get_json()
    assert body["genuine"] is True and body["status"] == "valid"
    assert rt.domain.attachments.get("appeals/7/photo-1.jpg") == b"\xff\xd8 a photo"


def test_a_restore_with_other_keys_is_not_verified(make_app, tmp_path, monkeypatch):
    app = make_app(VERIFY_MIN_SECONDS=0, GRADCERT_ATTACHMENT_DIR=str(tmp_path / "a"))
    make_certificate(app)
    archive = tmp_path / "backup.tar.gz"
    assert _run(app, "backup", "--out", str(archive), monkeypatch=monkeypatch).exit_code == 0
    keys = {**read_keys(archive, PASSPHRASE), "GRADCERT_PII_KEYS": "1:" + "77" * 16}
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    report = verify_restored(app.config["DATABASE_URL"], keys, manifest, 0)
    assert not report.ok
    assert any(line.startswith("FAILED student") for line in report.lines)


def test_sealed_keys_open_only_with_their_passphrase():
    sealed = seal_keys({"GRADCERT_PII_KEYS": "1:" + "ab" * 16}, PASSPHRASE)
    assert b"abab" not in sealed
    assert open_keys(sealed, PASSPHRASE) == {"GRADCERT_PII_KEYS": "1:" + "ab" * 16}
    with pytest.raises(BackupError, match="wrong passphrase"):
        open_keys(sealed, PASSPHRASE + "!")


def test_a_short_passphrase_is_refused(make_app, tmp_path, monkeypatch):
    app = make_app()
    res = _run(
        app, "backup", "--out", str(tmp_path / "b.tgz"), passphrase="short", monkeypatch=monkeypatch
    )
    assert res.exit_code == 2 and "at least 12 characters" in res.output
    assert not (tmp_path / "b.tgz").exists()
