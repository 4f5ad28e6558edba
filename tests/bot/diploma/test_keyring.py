"""The signing keyring: a certificate signed before a rotation still verifies after it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select, update

from bot.diploma import certificates
from bot.platform.signing import Sm2Signer
from handlers.cli import keys
from models import Certificate, SigningKey
from tests.handlers.web.test_verify import make_certificate


def _rotate(app, *args):
    with app.app_context():
        return CliRunner().invoke(keys, ["rotate-signing", *args])


def _forget_verdicts(app):
    redis = app.extensions["gradcert"].redis
    for key in redis.scan_iter("gc:sm2:*"):
        redis.delete(key)  # every answer below comes from SM2 itself


def test_a_certificate_signed_before_a_rotation_still_verifies_after_it(make_app):
    app = make_app(VERIFY_MIN_SECONDS=0)
    old = app.extensions["gradcert"].domain.signer
    before = make_certificate(app)
    pre_keyring = make_certificate(app, student_no="2017020118", certificate_no="1234520170001")
    with app.extensions["gradcert"].sessions() as db:  # as if signed before this version
        db.execute(
            update(Certificate).where(Certificate.code == pre_keyring).values(signing_key=None)
        )
        db.commit()

    result = _rotate(app)
    assert result.exit_code == 0, result.output
    assert (
        f"kept for verification: {old.fingerprint} (1 older certificates marked)" in result.output
    )
    stored = json.loads((Path(app.instance_path) / "secrets.json").read_text())
    new = Sm2Signer(stored["GRADCERT_SM2_PRIVATE_KEY"])
    assert new.key_id != old.key_id and f"new signing key: {new.fingerprint}" in result.output

    rotated = make_app(VERIFY_MIN_SECONDS=0)  # a restarted process: signs with the new key
    rt = rotated.extensions["gradcert"]
    assert rt.domain.signer.key_id == new.key_id
    after = make_certificate(rotated, student_no="2019040422", certificate_no="1234520180002")
    _forget_verdicts(rotated)
    client = rotated.test_client()
    for code, signer in ((before, old), (pre_keyring, old), (after, new)):
        body = client.get(f"/v/{code}.json").get_json()
        assert body["genuine"] is True and body["status"] == "valid", code
        assert body["fingerprint"] == signer.fingerprint and body["public_key"] == signer.public_hex
    with rt.sessions() as db:
        assert {k.key_id for k in db.scalars(select(SigningKey))} == {old.key_id, new.key_id}
        cert = db.scalar(select(Certificate).where(Certificate.code == before))
        assert cert.signing_key == old.key_id
        cert.signing_key = new.key_id  # claims the new key: its signature does not verify
        db.commit()
    _forget_verdicts(rotated)
    assert client.get(f"/v/{before}.json").get_json()["status"] == "tampered"


def test_a_certificate_naming_a_key_the_school_never_had_is_not_genuine(make_app):
    app = make_app(VERIFY_MIN_SECONDS=0)
    code = make_certificate(app)
    rt = app.extensions["gradcert"]
    stranger = Sm2Signer("2" * 64)
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        cert.signing_key, cert.signature = stranger.key_id, stranger.sign(cert.content.encode())
        db.commit()
        assert not certificates.is_genuine(db, cert, rt.domain.keyring)


def test_rotation_with_the_key_in_the_environment_needs_an_output_file(
    make_app, monkeypatch, tmp_path
):
    app = make_app()
    monkeypatch.setenv("GRADCERT_SM2_PRIVATE_KEY", app.config["GRADCERT_SM2_PRIVATE_KEY"])
    refused = _rotate(app)
    assert refused.exit_code == 2 and "--out" in refused.output
    out = tmp_path / "new-sm2.key"
    done = _rotate(app, "--out", str(out))
    assert done.exit_code == 0, done.output
    assert out.stat().st_mode & 0o777 == 0o600
    new = Sm2Signer(out.read_text().strip())
    assert f"new signing key: {new.fingerprint}" in done.output
    with app.extensions["gradcert"].sessions() as db:
        assert db.get(SigningKey, new.key_id).public_key == new.public_hex
