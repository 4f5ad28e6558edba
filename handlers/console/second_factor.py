"""The second step of a console sign-in, after the password was right: the authenticator code
(TOTP), enrolment for a director or an auditor who has none yet (a QR code and the secret as text),
or a code texted to the registered phone for those who cannot use an authenticator app.

Between the two steps the Flask session holds only `pending` (the user id, when, where to go); the
real session starts when the second step passes (`finish`). Every attempt is audited.
"""

from __future__ import annotations

import time

from flask import Blueprint, flash, g, redirect, request, session, url_for

from bot.core.replies import minutes
from bot.platform import staff_accounts as accounts
from bot.platform import totp
from bot.platform.otp import Check
from bot.platform.staff_auth import CHECK_TEXT, Permission, can, refusal_text, staff_phone
from handlers.client_address import client_address
from handlers.console.base import record, render, runtime, start_session
from models import SignInFactor, StaffUser

bp = Blueprint("second_factor", __name__)
PENDING_SECONDS = 5 * 60
PUBLIC = {"console.second_factor.verify", "console.second_factor.send_sms"}


def begin(user: StaffUser, target: str):
    """After the password: sign in at once (a clerk without a second factor) or ask for it."""
    if accounts.next_step(user) is accounts.NextStep.DONE:
        return finish(user, SignInFactor.PASSWORD, target)
    session.clear()
    session["pending"] = {"id": user.id, "at": int(time.time()), "next": target}
    return redirect(url_for("console.second_factor.verify"), 303)


def finish(user: StaffUser, factor: SignInFactor, target: str):
    """Start the session, record the sign-in, go where the user was going (or their home page)."""
    with runtime().unit() as work:
        fresh = work.db.get(StaffUser, user.id)
        accounts.record_sign_in(work.db, fresh, client_address(), factor)
    start_session(user)
    return redirect(home(user, target))


def home(user: StaffUser, target: str | None = None) -> str:
    """`target` when the user may work there; otherwise the first page the role opens."""
    queue = url_for("console.appeals.queue")
    if target and (target != queue or can(user, Permission.WORK_TICKETS)):
        return target
    if can(user, Permission.WORK_TICKETS):
        return queue
    return url_for("console.audit.anomalies_report")


def _pending_user() -> StaffUser | None:
    pending = session.get("pending")
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    with runtime().unit() as work:
        user = work.db.get(StaffUser, pending.get("id"))
    return user if user is not None and user.active else None


def _expired():
    session.pop("pending", None)
    flash("登录步骤已超时（5 分钟），请重新输入用户名和密码。")
    return redirect(url_for("console.login"))


def _page(user: StaffUser, via: str, error: str | None = None, status: int = 200):
    step = accounts.next_step(user)
    enrol = None
    if via == "app" and step is accounts.NextStep.ENROL:
        domain = runtime().domain
        secret = totp.pending_secret(runtime().redis, domain.cipher, user.id)
        if secret is None:
            secret = totp.new_secret()
            totp.hold_pending(runtime().redis, domain.cipher, user.id, secret)
        enrol = {
            "qr": totp.qr_data_uri(totp.provisioning_uri(secret, user.username)),
            "secret": totp.grouped(secret),
        }
    phone = staff_phone(runtime().domain.cipher, user)
    return render(
        "second_factor.html",
        status,
        person=user,
        via=via,
        enrol=enrol,
        phone_tail=phone[-4:] if phone else None,
        error=error,
    )


@bp.route("/2fa", methods=["GET", "POST"])
def verify():
    """The code of the authenticator app (or, with via=sms, the texted code); enrolment first
    where the role requires a second factor and none is enrolled."""
    user = _pending_user()
    if user is None:
        return _expired()
    g.staff = None
    via = "sms" if (request.values.get("via") == "sms") else "app"
    if request.method == "GET":
        return _page(user, via)
    redis = runtime().redis
    wait = accounts.factor_wait(redis, user)
    if wait:
        _audit(user, "locked", via)
        return _page(user, via, f"验证码错误次数过多，请 {minutes(wait)} 分钟后再试。", 429)
    code = request.form.get("code", "")[:32]
    if via == "sms":
        check = accounts.check_login_code(runtime().domain.otp, user, code)
        if check is not Check.OK:
            accounts.factor_failed(redis, user)
            _audit(user, check.value, via)
            return _page(user, via, CHECK_TEXT[check], 400)
        factor = SignInFactor.SMS
    else:
        passed = _check_app_code(user, code)
        if not passed:
            accounts.factor_failed(redis, user)
            _audit(user, "wrong", via)
            return _page(
                user,
                via,
                "验证码不正确或已用过。请输入手机上“学历异议处理台”这一项现在显示的 6 位数字（每 30 秒更新，同一个数字只能用一次）。",
                400,
            )
        factor = SignInFactor.TOTP
    accounts.factor_passed(redis, user)
    _audit(user, "ok", via)
    target = session.get("pending", {}).get("next") or ""
    session.pop("pending", None)
    return finish(user, factor, target)


def _check_app_code(user: StaffUser, code: str) -> bool:
    """The enrolled secret's code; while enrolling, the pending secret's code, which enrols it."""
    domain, redis = runtime().domain, runtime().redis
    now = domain.clock()
    secret = totp.secret_of(domain.cipher, user)
    if secret is not None:
        return totp.check_code(redis, user.id, secret, code, now)
    secret = totp.pending_secret(redis, domain.cipher, user.id)
    if secret is None or not totp.check_code(redis, user.id, secret, code, now):
        return False
    enrol(user.id, secret)
    return True


def enrol(user_id: int, secret: str) -> None:
    """Store a confirmed secret (sealed) and audit the enrolment."""
    domain, redis = runtime().domain, runtime().redis
    with runtime().unit() as work:
        user = work.db.get(StaffUser, user_id)
        totp.seal_secret(domain.cipher, user, secret)
        user.totp_enrolled_at = domain.clock()
        g.staff = user
        record(work.db, "totp_enrol")
        g.staff = None
    totp.drop_pending(redis, user_id)


def _audit(user: StaffUser, result: str, via: str) -> None:
    with runtime().unit() as work:
        g.staff = user
        record(work.db, "staff_2fa", result=result, detail="sms" if via == "sms" else "totp")
        g.staff = None


@bp.post("/2fa/sms")
def send_sms():
    """Text a sign-in code to the registered phone (for those who cannot use an authenticator)."""
    user = _pending_user()
    if user is None:
        return _expired()
    domain = runtime().domain
    sent = accounts.send_login_code(domain.cipher, domain.otp, domain.sms, user)
    with runtime().unit() as work:
        g.staff = user
        record(work.db, "login_code", result="ok" if sent.ok else (sent.refusal or "refused"))
        g.staff = None
    if not sent.ok:
        return _page(user, "sms", refusal_text(sent), 429 if sent.wait else 400)
    flash(f"验证码已发送到尾号 {staff_phone(domain.cipher, user)[-4:]} 的手机，5 分钟内有效。")
    return redirect(url_for("console.second_factor.verify", via="sms"), 303)


@bp.app_template_global()
def console_home(user: StaffUser) -> str:
    """The first page of the user's role (the brand link in the header)."""
    return home(user)
