"""Console staff: accounts with scrypt password hashes, login with throttling, roles and what
each may do, and the SMS second factor a director needs to export tickets.

Failures take the same path whether or not the username exists (a dummy hash is checked), so the
answer time does not tell which usernames are real. Nothing here imports Flask.

Login throttling: an attempt is counted before its password is checked, in one atomic step
against two limits (5 per username and address, 10 per address whatever the username, each per
15 minutes); a full limit refuses without checking the password, and a success gives its count
back. An attacker elsewhere therefore cannot lock a director out, and concurrent attempts cannot
slip past the limit. The counts are mirrored in SQL (bot.platform.counters), so a Redis restart
does not reset them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core import keys
from bot.core.replies import minutes
from bot.platform import counters
from bot.platform.crypto import DecryptionFailed, PiiCipher
from bot.platform.otp import Check, OtpService, Refusal
from bot.platform.passwords import check_password, hash_password
from bot.platform.ratelimit import take_all
from bot.platform.sms import SmsError, SmsProvider
from models import StaffRole, StaffUser, utcnow

LOGIN_LIMIT, LOGIN_WINDOW = 5, 15 * 60  # per (username, address)
ADDRESS_LIMIT = 10  # per address, whatever the username, in the same window
MIN_PASSWORD, MAX_PASSWORD = 10, 256
USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{2,31}")
PHONE = re.compile(r"1\d{10}")
EXPORT_PURPOSE = "export"
EXPORT_CODE_MINUTES = 5


class Permission(StrEnum):
    WORK_TICKETS = "work_tickets"
    EXPORT = "export"
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT = "view_audit"
    REGISTRAR = "registrar"  # the registrar sync's status and refused rows
    VERIFIERS = "verifiers"  # API keys of organisations that verify certificates
    MANAGE_JOBS = "manage_jobs"
    VIEW_ANOMALIES = "view_anomalies"


GRANTS = {
    StaffRole.CLERK: frozenset({Permission.WORK_TICKETS}),
    StaffRole.DIRECTOR: frozenset(Permission),
    StaffRole.AUDITOR: frozenset({Permission.VIEW_AUDIT, Permission.VIEW_ANOMALIES}),
}
ROLE_NAMES = {StaffRole.CLERK: "办事员", StaffRole.DIRECTOR: "主任", StaffRole.AUDITOR: "纪检"}
PHONE_ROLES = (StaffRole.DIRECTOR, StaffRole.AUDITOR)  # export codes; the weekly report notice


class StaffInputError(ValueError):
    """A staff account could not be created or changed; the message (Chinese) says why."""


@dataclass(frozen=True)
class LoginResult:
    """The signed-in user, or None; `wait` seconds when the username is throttled."""

    user: StaffUser | None
    wait: int = 0


@dataclass(frozen=True)
class CodeSent:
    """The outcome of sending an export code: ok, or a refusal / provider failure with a wait."""

    ok: bool
    refusal: str | None = None
    wait: int = 0


def can(user: StaffUser, permission: Permission) -> bool:
    """Whether the user's role grants `permission`."""
    return user.active and permission in GRANTS.get(StaffRole(user.role), frozenset())


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive and trimmed."""
    return (username or "").strip().lower()


def normalise_phone(phone: str) -> str:
    """Digits only, without a +86 prefix."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def create_staff(
    db: Session,
    cipher: PiiCipher,
    username: str,
    display_name: str,
    role: str,
    password: str,
    phone: str | None = None,
) -> StaffUser:
    """Validate and add a staff user (not committed); raises StaffInputError."""
    username = normalise_username(username)
    display_name = (display_name or "").strip()
    phone = normalise_phone(phone) if phone else ""
    if not USERNAME.fullmatch(username):
        raise StaffInputError("用户名需为 3-32 位小写字母、数字、点、横线或下划线。")
    if not display_name or len(display_name) > 64:
        raise StaffInputError("请填写姓名（不超过 64 个字）。")
    if role not in {r.value for r in StaffRole}:
        raise StaffInputError("角色只能是 clerk（办事员）、director（主任）或 auditor（纪检）。")
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise StaffInputError(f"密码需为 {MIN_PASSWORD}-{MAX_PASSWORD} 位。")
    if phone and not PHONE.fullmatch(phone):
        raise StaffInputError("手机号应为 11 位大陆手机号。")
    if role in PHONE_ROLES and not phone:
        raise StaffInputError("主任和纪检账号需要手机号（接收验证码和每周报告通知）。")
    if db.scalar(select(func.count()).select_from(StaffUser).where(StaffUser.username == username)):
        raise StaffInputError("该用户名已存在。")
    user = StaffUser(
        username=username,
        display_name=display_name,
        role=role,
        password_hash=hash_password(password),
        pii_key_version=cipher.current_version,
    )
    if phone:
        user.phone_enc, user.pii_key_version = cipher.seal(phone, b"phone")
    db.add(user)
    db.flush()
    return user


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def authenticate(
    db: Session, redis: Redis, username: str, password: str, address: str = "unknown"
) -> LoginResult:
    """Check a password, within the limits per (username, address) and per address (module
    docstring): from a locked state the answer is the wait, and the password is not checked.
    Unknown and disabled users cost the same hash check as real ones."""
    username = normalise_username(username)
    per_user, per_address = keys.staff_login(username, address), keys.staff_login_address(address)
    counters.restore(db, redis, per_user, per_address)
    full, wait = take_all(
        redis,
        [(per_user, LOGIN_LIMIT, LOGIN_WINDOW), (per_address, ADDRESS_LIMIT, LOGIN_WINDOW)],
    )
    if full:
        return LoginResult(None, wait)
    user = db.scalar(select(StaffUser).where(StaffUser.username == username)) if username else None
    stored = user.password_hash if user is not None else _dummy_hash()
    matches = check_password(stored, password or "")
    if user is None or not user.active or not matches:
        counters.save(db, redis, "console_login", per_user, per_address)
        return LoginResult(None)
    pipe = redis.pipeline()  # a success gives its count back and clears this user's failures
    pipe.delete(per_user)
    pipe.decr(per_address)
    pipe.execute()
    counters.save(db, redis, "console_login", per_user, per_address)
    user.last_login_at = utcnow()
    return LoginResult(user)


def disable_staff(db: Session, user: StaffUser, by: StaffUser) -> None:
    """Switch an account off (kept for the audit trail); nobody disables themselves."""
    if user.id == by.id:
        raise StaffInputError("不能停用自己的账号。")
    user.active = False


def staff_phone(cipher: PiiCipher, user: StaffUser) -> str | None:
    """The director's phone in clear, or None."""
    if not user.phone_enc:
        return None
    try:
        return cipher.open(user.phone_enc, user.pii_key_version, b"phone")
    except DecryptionFailed:
        return None


def _otp_tag(user: StaffUser) -> str:
    return f"{{staff:{user.id}}}"


def send_export_code(
    cipher: PiiCipher, otp: OtpService, sms: SmsProvider, user: StaffUser
) -> CodeSent:
    """Text a one-time export code to the director's phone (limits of OtpService apply)."""
    return send_staff_code(cipher, otp, sms, user, EXPORT_PURPOSE, EXPORT_CODE_MINUTES)


def check_export_code(otp: OtpService, user: StaffUser, code: str) -> Check:
    """Check (and on success use up) the director's export code."""
    return check_staff_code(otp, user, EXPORT_PURPOSE, code)


def send_staff_code(
    cipher: PiiCipher,
    otp: OtpService,
    sms: SmsProvider,
    user: StaffUser,
    purpose: str,
    minutes: int,
) -> CodeSent:
    """Text a one-time code for `purpose` to a staff member's registered phone (the limits of
    OtpService apply; a failed send is refunded)."""
    phone = staff_phone(cipher, user)
    if not phone:
        return CodeSent(False, refusal="no_phone")
    index = cipher.index("phone", phone)
    issued = otp.issue(_otp_tag(user), index, purpose)
    if issued.refusal is not None:
        return CodeSent(False, refusal=issued.refusal.value, wait=issued.wait)
    try:
        sms.send_code(phone, issued.code, minutes)
    except SmsError:
        otp.refund(_otp_tag(user), index)
        return CodeSent(False, refusal="sms_failed")
    return CodeSent(True)


def check_staff_code(otp: OtpService, user: StaffUser, purpose: str, code: str) -> Check:
    """Check (and on success use up) a staff member's code for `purpose`."""
    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6}", code):
        return Check.WRONG
    return otp.verify(_otp_tag(user), purpose, code).check


REFUSAL_TEXT = {
    Refusal.LOCKED.value: "验证码错误次数过多，已锁定 {minutes} 分钟。",
    Refusal.COOLDOWN.value: "验证码已发送，请 {seconds} 秒后再重发。",
    Refusal.PHONE_MINUTE.value: "发送过于频繁，请 {seconds} 秒后再试。",
    Refusal.PHONE_HOUR.value: "本小时发送次数已达上限，请 {minutes} 分钟后再试。",
    Refusal.PHONE_DAY.value: "今天发送次数已达上限，请明天再试。",
    "no_phone": "你的账号没有登记手机号，请联系管理员。",
    "sms_failed": "短信发送失败，请稍后重试。",
}
CHECK_TEXT = {
    Check.WRONG: "验证码不正确。",
    Check.DEAD: "验证码已失效（错误次数过多），请重新获取。",
    Check.EXPIRED: "验证码已过期或已使用，请重新获取。",
    Check.LOCKED: "验证码错误次数过多，已锁定 1 小时。",
}


def refusal_text(sent: CodeSent) -> str:
    """What the console says when a code was not sent."""
    template = REFUSAL_TEXT.get(sent.refusal or "", "验证码未发送。")
    return template.format(seconds=sent.wait, minutes=minutes(sent.wait))
