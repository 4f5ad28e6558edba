"""Staff password hashes stay readable in Werkzeug's format, both ways."""

from werkzeug.security import check_password_hash, generate_password_hash

from bot.platform.passwords import check_password, hash_password


def test_a_hash_written_by_werkzeug_checks_out():
    stored = generate_password_hash("正确的密码 correct horse", method="scrypt")
    assert check_password(stored, "正确的密码 correct horse")
    assert not check_password(stored, "正确的密码 correct hors")


def test_our_hash_is_one_werkzeug_reads():
    stored = hash_password("s3cret-Passw0rd")
    assert stored.startswith("scrypt:32768:8:1$")
    assert check_password_hash(stored, "s3cret-Passw0rd") and check_password(
        stored, "s3cret-Passw0rd"
    )
    assert hash_password("s3cret-Passw0rd") != stored  # salted


def test_anything_else_is_refused_without_an_error():
    for stored in ("", "plain", "pbkdf2:sha256:1000$salt$00", "scrypt:x:8:1$s$00", "scrypt$only"):
        assert not check_password(stored, "x")
