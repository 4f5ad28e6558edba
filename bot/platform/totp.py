"""The TOTP second factor of console staff (RFC 6238 through pyotp): new secrets, the enrolment QR
code (an SVG data URI, nothing fetched), sealing the secret with SM4 like a phone number, and the
check of a code, which accepts one step of clock drift either way and never the same step twice.
Nothing here imports Flask."""

from __future__ import annotations

import base64
import re
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg
from redis import Redis

from bot.core import keys
from bot.platform.crypto import DecryptionFailed, PiiCipher
from models import StaffUser

ISSUER = "学历异议处理台"
DRIFT_STEPS = 1  # the step before and after: a phone clock 30 s off still works
PENDING_SECONDS = 10 * 60
AAD = b"totp"

# SET the last used step only when the new one is later: a code is good once, across processes
_CLAIM_STEP = """
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def grouped(secret: str) -> str:
    """The secret in groups of four, as typed into an authenticator app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_data_uri(text: str) -> str:
    """A QR code of `text` as an SVG data URI for an <img> (the console's CSP allows data: images)."""
    image = qrcode.make(
        text,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
    )
    svg = image.to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def normalise_code(code: str) -> str | None:
    """Six digits from what was typed (spaces and full-width digits allowed), or None."""
    text = re.sub(r"\s", "", code or "").translate({0xFF10 + d: 0x30 + d for d in range(10)})
    return text if re.fullmatch(r"[0-9]{6}", text) else None


def seal_secret(cipher: PiiCipher, user: StaffUser, secret: str | None) -> None:
    """Store (or, with None, remove) the user's secret; every sealed column of the row is moved to
    the current key version, since the row has one version for all of them."""
    phone = cipher.open(user.phone_enc, user.pii_key_version, b"phone") if user.phone_enc else None
    version = cipher.current_version
    if phone is not None:
        user.phone_enc, version = cipher.seal(phone, b"phone")
    user.totp_secret_enc = None
    if secret is not None:
        user.totp_secret_enc, version = cipher.seal(secret, AAD)
    user.pii_key_version = version


def secret_of(cipher: PiiCipher, user: StaffUser) -> str | None:
    """The user's secret in clear, or None (not enrolled, or it cannot be opened)."""
    if not user.totp_secret_enc:
        return None
    try:
        return cipher.open(user.totp_secret_enc, user.pii_key_version, AAD)
    except DecryptionFailed:
        return None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (within the drift) whose code is `code`, or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(max(0, current - DRIFT_STEPS), current + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def check_code(redis: Redis, staff_id: int, secret: str, code: str, now: datetime) -> bool:
    """True when `code` is the user's current code and that step was not used before."""
    digits = normalise_code(code)
    step = matching_step(secret, digits, now) if digits else None
    if step is None:
        return False
    ttl = 30 * (2 * DRIFT_STEPS + 2)
    return bool(redis.eval(_CLAIM_STEP, 1, keys.staff_totp_used(staff_id), step, ttl))


def hold_pending(redis: Redis, cipher: PiiCipher, staff_id: int, secret: str) -> None:
    """Keep a secret being enrolled (sealed) until the first code confirms it."""
    redis.set(keys.staff_totp_pending(staff_id), cipher.seal_text(secret), ex=PENDING_SECONDS)


def pending_secret(redis: Redis, cipher: PiiCipher, staff_id: int) -> str | None:
    """The secret being enrolled, or None when there is none (or it expired)."""
    token = redis.get(keys.staff_totp_pending(staff_id))
    if not token:
        return None
    try:
        return cipher.open_text(token.decode() if isinstance(token, bytes) else token)
    except (DecryptionFailed, ValueError):
        return None


def drop_pending(redis: Redis, staff_id: int) -> None:
    """Forget the secret being enrolled."""
    redis.delete(keys.staff_totp_pending(staff_id))
