"""The TOTP second factor: RFC 6238's reference code, drift of one step, a step used once across
processes, typed codes read leniently, the secret sealed beside the phone under one key version,
and enrolment state held sealed in Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pyotp

from bot.platform import totp
from bot.platform.crypto import PiiCipher, parse_keys
from models import StaffUser

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890", RFC 6238 appendix B
AT_59 = datetime.fromtimestamp(59, UTC)  # SHA-1 reference 94287082: six digits 287082
INDEX_KEY = b"\x07" * 32


def test_the_reference_code_and_one_step_of_drift():
    assert totp.matching_step(RFC_SECRET, "287082", AT_59) == 1
    later = datetime.fromtimestamp(59 + 30, UTC)
    assert totp.matching_step(RFC_SECRET, "287082", later) == 1  # the step before: still good
    assert totp.matching_step(RFC_SECRET, "287082", datetime.fromtimestamp(59 + 60, UTC)) is None
    first = pyotp.TOTP(RFC_SECRET).at(0)
    assert totp.matching_step(RFC_SECRET, first, datetime.fromtimestamp(5, UTC)) == 0  # no step -1


def test_a_step_is_accepted_once(redis):
    assert totp.check_code(redis, 41, RFC_SECRET, "287082", AT_59)
    assert not totp.check_code(redis, 41, RFC_SECRET, "287082", AT_59)  # replayed
    assert totp.check_code(redis, 42, RFC_SECRET, "287082", AT_59)  # another user's counter
    code_2 = pyotp.TOTP(RFC_SECRET).at(60)
    later = datetime.fromtimestamp(90, UTC)  # step 3
    assert totp.check_code(redis, 43, RFC_SECRET, code_2, later)  # step 2: the drift allows it
    assert not totp.check_code(redis, 43, RFC_SECRET, "287082", later)  # step 1: too old anyway
    code_3 = pyotp.TOTP(RFC_SECRET).at(90)
    assert totp.check_code(redis, 43, RFC_SECRET, code_3, later)
    assert not totp.check_code(redis, 43, RFC_SECRET, code_2, later)  # older than the last used


def test_typed_codes_are_read_leniently_and_strictly():
    assert totp.normalise_code(" 287 082 ") == "287082"
    assert totp.normalise_code("２８７０８２") == "287082"
    for bad in ("28708", "2870823", "28708a", "", "²87082"):
        assert totp.normalise_code(bad) is None


def test_the_secret_is_sealed_beside_the_phone_under_one_key_version():
    old = PiiCipher(parse_keys("1:" + "11" * 16), INDEX_KEY)
    both = PiiCipher(parse_keys("1:" + "11" * 16 + ",2:" + "22" * 16), INDEX_KEY)
    user = StaffUser(username="boss", display_name="李主任", password_hash="x")
    user.phone_enc, user.pii_key_version = old.seal("13900000009", b"phone")
    totp.seal_secret(both, user, RFC_SECRET)
    assert user.pii_key_version == 2
    assert both.open(user.phone_enc, 2, b"phone") == "13900000009"  # re-sealed with it
    assert totp.secret_of(both, user) == RFC_SECRET
    assert RFC_SECRET.encode() not in user.totp_secret_enc
    totp.seal_secret(both, user, None)
    assert totp.secret_of(both, user) is None and user.phone_enc


def test_enrolment_waits_sealed_and_the_qr_carries_the_uri(redis):
    cipher = PiiCipher(parse_keys("1:" + "11" * 16), INDEX_KEY)
    secret = totp.new_secret()
    assert len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    totp.hold_pending(redis, cipher, 7, secret)
    assert secret.encode() not in b"".join(redis.get(k) or b"" for k in redis.keys("*pending*"))
    assert totp.pending_secret(redis, cipher, 7) == secret
    totp.drop_pending(redis, 7)
    assert totp.pending_secret(redis, cipher, 7) is None
    uri = urlsplit(totp.provisioning_uri(secret, "boss"))
    query = parse_qs(uri.query)
    assert uri.scheme == "otpauth" and query["secret"] == [secret]
    assert query["issuer"] == [totp.ISSUER]
    assert totp.qr_data_uri("otpauth://x").startswith("data:image/svg+xml;base64,")
