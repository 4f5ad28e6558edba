"""Looking after console accounts once they exist: which second factor a sign-in needs, the SMS
fallback code, recording a completed sign-in, changing one's own password, a director's one-time
reset token (never a password shown), re-enabling and changing a role. Each function validates,
changes the rows (not committed) and raises StaffInputError with a Chinese sentence when it
refuses. Nothing here imports Flask."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from enum import StrEnum

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core import keys
from bot.platform.crypto import PiiCipher
from bot.platform.otp import Check, OtpService
from bot.platform.passwords import check_password, hash_password
from bot.platform.ratelimit import RateLimit
from bot.platform.sms import SmsProvider
from bot.platform.staff_auth import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    PHONE,
    PHONE_ROLES,
    CodeSent,
    StaffInputError,
    check_staff_code,
    normalise_phone,
    normalise_username,
    send_staff_code,
)
from bot.platform.totp import seal_secret
from models import SignInFactor, StaffRole, StaffSignIn, StaffUser, utcnow

SECOND_FACTOR_REQUIRED = (StaffRole.DIRECTOR, StaffRole.AUDITOR)
FACTOR_LIMIT, FACTOR_WINDOW = 5, 15 * 60
LOGIN_PURPOSE = "login"
LOGIN_CODE_MINUTES = 5
RESET_SECONDS = 24 * 3600
RESET_TOKEN = re.compile(r"([0-9]{1,10})\.([A-Za-z0-9_-]{20,64})")


class NextStep(StrEnum):
    """What a user whose password was right does next."""

    DONE = "done"  # a clerk without a second factor
    TOTP = "totp"  # enrolled: the authenticator code (or the SMS fallback)
    ENROL = "enrol"  # required but not enrolled: enrol now (or the SMS fallback)


def next_step(user: StaffUser) -> NextStep:
    """The second factor this sign-in needs: the enrolled one, enrolment where the role requires
    it, nothing for a clerk who has not enrolled."""
    if user.totp_secret_enc:
        return NextStep.TOTP
    if user.role in SECOND_FACTOR_REQUIRED:
        return NextStep.ENROL
    return NextStep.DONE


def factor_wait(redis: Redis, user: StaffUser) -> int:
    """Seconds before this user may try another code (5 wrong codes in 15 minutes)."""
    return RateLimit(redis, FACTOR_LIMIT, FACTOR_WINDOW).retry_after(
        keys.staff_second_factor(user.id)
    )


def factor_failed(redis: Redis, user: StaffUser) -> None:
    """Count a wrong second-factor code."""
    RateLimit(redis, FACTOR_LIMIT, FACTOR_WINDOW).hit(keys.staff_second_factor(user.id))


def factor_passed(redis: Redis, user: StaffUser) -> None:
    """Forget the wrong codes once the right one came."""
    redis.delete(keys.staff_second_factor(user.id))


def send_login_code(
    cipher: PiiCipher, otp: OtpService, sms: SmsProvider, user: StaffUser
) -> CodeSent:
    """Text a sign-in code to the user's registered phone (the fallback for those who cannot use
    an authenticator app; the limits of OtpService apply)."""
    return send_staff_code(cipher, otp, sms, user, LOGIN_PURPOSE, LOGIN_CODE_MINUTES)


def check_login_code(otp: OtpService, user: StaffUser, code: str) -> Check:
    """Check (and on success use up) the SMS sign-in code."""
    return check_staff_code(otp, user, LOGIN_PURPOSE, code)


def record_sign_in(db: Session, user: StaffUser, address: str, factor: SignInFactor) -> None:
    """A completed sign-in: the user's last login and a row for the anomaly report."""
    now = utcnow()
    user.last_login_at = now
    db.add(
        StaffSignIn(staff_id=user.id, at=now, address=(address or "unknown")[:64], factor=factor)
    )


def _new_password(password: str, confirm: str) -> str:
    if password != confirm:
        raise StaffInputError("两次输入的新密码不一致。")
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise StaffInputError(f"密码需为 {MIN_PASSWORD}-{MAX_PASSWORD} 位。")
    return password


def set_password(user: StaffUser, password: str) -> None:
    """A new password hash; sessions begun before now end on their next request."""
    user.password_hash = hash_password(password)
    user.credentials_at = utcnow()


def change_password(user: StaffUser, current: str, password: str, confirm: str) -> None:
    """Change one's own password (the current one first)."""
    if not check_password(user.password_hash, (current or "")[:MAX_PASSWORD]):
        raise StaffInputError("当前密码不正确。")
    _new_password(password, confirm)
    if check_password(user.password_hash, password):
        raise StaffInputError("新密码不能与当前密码相同。")
    set_password(user, password)


def issue_reset(redis: Redis, user: StaffUser, by: StaffUser) -> str:
    """A one-time reset token for `user` (valid 24 hours, replaces any earlier one), to be handed
    over by the director in person; only its SHA-256 is stored."""
    if user.id == by.id:
        raise StaffInputError("不能重置自己的密码，请在“我的账号”中修改。")
    if not user.active:
        raise StaffInputError("账号已停用，请先启用再重置密码。")
    secret = secrets.token_urlsafe(24)
    redis.set(
        keys.staff_reset(user.id), hashlib.sha256(secret.encode()).hexdigest(), ex=RESET_SECONDS
    )
    return f"{user.id}.{secret}"


def reset_holder(db: Session, redis: Redis, token: str) -> StaffUser | None:
    """The active user a reset token belongs to, or None (wrong, used or expired)."""
    match = RESET_TOKEN.fullmatch((token or "").strip())
    if not match:
        return None
    user_id, secret = int(match[1]), match[2]
    stored = redis.get(keys.staff_reset(user_id))
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if not stored or not hmac.compare_digest(
        stored.decode() if isinstance(stored, bytes) else stored, digest
    ):
        return None
    user = db.get(StaffUser, user_id)
    return user if user is not None and user.active else None


def redeem_reset(db: Session, redis: Redis, token: str, password: str, confirm: str) -> StaffUser:
    """Set a new password with a reset token; the token is used up."""
    user = reset_holder(db, redis, token)
    if user is None:
        raise StaffInputError("重置链接无效、已使用或已过期，请联系主任重新生成。")
    _new_password(password, confirm)
    if not redis.delete(keys.staff_reset(user.id)):  # two tabs at once: only one wins
        raise StaffInputError("重置链接无效、已使用或已过期，请联系主任重新生成。")
    set_password(user, password)
    return user


def enable_staff(user: StaffUser) -> None:
    """Switch a disabled account back on."""
    if user.active:
        raise StaffInputError("该账号已是启用状态。")
    user.active = True


def change_role(db: Session, user: StaffUser, role: str, by: StaffUser) -> str:
    """Give another user a new role; returns the old one. Directors and auditors need a phone; the
    last active director keeps the role."""
    if user.id == by.id:
        raise StaffInputError("不能更改自己的角色。")
    if role not in {r.value for r in StaffRole}:
        raise StaffInputError("请选择办事员、主任或纪检。")
    if role == user.role:
        raise StaffInputError("角色没有变化。")
    if role in PHONE_ROLES and not user.phone_enc:
        raise StaffInputError(
            "主任和纪检账号需要手机号：请先为该账号登记手机号（命令行 create-staff --reset --phone）。"
        )
    if user.role == StaffRole.DIRECTOR and user.active and active_directors(db) <= 1:
        raise StaffInputError("这是唯一启用的主任账号，不能改为其他角色。")
    old = user.role
    user.role = StaffRole(role)
    user.credentials_at = utcnow()  # sessions pick up the new rights at the next sign-in
    return old


def clear_second_factor(cipher: PiiCipher, user: StaffUser) -> None:
    """Remove an enrolled authenticator (a lost phone): the user enrols again at the next sign-in."""
    seal_secret(cipher, user, None)
    user.totp_enrolled_at = None


def reset_from_cli(
    db: Session, cipher: PiiCipher, username: str, password: str, phone: str | None
) -> StaffUser:
    """`gradcert create-staff --reset`: a new password for an existing user (re-enabled, second
    factor cleared so it is enrolled again), optionally a new phone."""
    user = db.scalar(select(StaffUser).where(StaffUser.username == normalise_username(username)))
    if user is None:
        raise StaffInputError("没有这个用户名。")
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise StaffInputError(f"密码需为 {MIN_PASSWORD}-{MAX_PASSWORD} 位。")
    if phone:
        phone = normalise_phone(phone)
        if not PHONE.fullmatch(phone):
            raise StaffInputError("手机号应为 11 位大陆手机号。")
        user.phone_enc, user.pii_key_version = cipher.seal(phone, b"phone")
    set_password(user, password)
    user.active = True
    clear_second_factor(cipher, user)
    return user


def active_directors(db: Session) -> int:
    """How many active directors there are."""
    return db.scalar(
        select(func.count())
        .select_from(StaffUser)
        .where(StaffUser.role == StaffRole.DIRECTOR, StaffUser.active.is_(True))
    )
