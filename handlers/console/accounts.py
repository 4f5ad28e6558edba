"""Console accounts after creation: one's own page (change the password, enrol or replace the
authenticator), the director's actions on another account (a one-time reset link, re-enable,
change the role, clear a lost authenticator) and the public page where a reset link is redeemed.
The list of accounts and the form to add one stay in handlers/console/admin.py. Every change is
audited in its own transaction."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from bot.platform import staff_accounts as accounts
from bot.platform import totp
from bot.platform.staff_auth import MAX_PASSWORD, ROLE_NAMES, Permission, StaffInputError
from handlers.console import admin
from handlers.console.base import end_session, record, render, requires, runtime
from models import StaffUser

bp = Blueprint("accounts", __name__)
PUBLIC = {"console.accounts.redeem_reset"}


def _form_password(name: str) -> str:
    return request.form.get(name, "")[:MAX_PASSWORD]


def _account_page(error: str | None = None, status: int = 200, enrol=None):
    return render(
        "account.html",
        status,
        error=error,
        enrol=enrol,
        required=g.staff.role in accounts.SECOND_FACTOR_REQUIRED,
    )


@bp.get("/account")
def account():
    """My account: last sign-in, the password form, the authenticator."""
    return _account_page()


@bp.post("/account/password")
def change_password():
    """Change my own password (current one first); other sessions of mine end."""
    with runtime().unit() as work:
        user = work.db.get(StaffUser, g.staff.id)
        try:
            accounts.change_password(
                user,
                _form_password("current"),
                _form_password("password"),
                _form_password("confirm"),
            )
        except StaffInputError as problem:
            work.rollback()
            error = str(problem)
        else:
            error = None
            record(work.db, "password_change")
    if error:
        with runtime().unit() as work:
            record(work.db, "password_change", result="refused")
        return _account_page(error, 400)
    end_session()
    flash("密码已修改，请用新密码重新登录。")
    return redirect(url_for("console.login"), 303)


@bp.get("/account/totp")
def totp_setup():
    """Enrol (or replace) my authenticator: a new secret, shown as a QR code and as text."""
    domain, redis = runtime().domain, runtime().redis
    secret = totp.new_secret()
    totp.hold_pending(redis, domain.cipher, g.staff.id, secret)
    return _enrol_page(secret)


def _enrol_page(secret: str, error: str | None = None, status: int = 200):
    enrol = {
        "qr": totp.qr_data_uri(totp.provisioning_uri(secret, g.staff.username)),
        "secret": totp.grouped(secret),
    }
    return _account_page(error, status, enrol)


@bp.post("/account/totp")
def totp_confirm():
    """The first code of the new secret confirms it; the old one stops working."""
    from handlers.console.second_factor import enrol

    domain, redis = runtime().domain, runtime().redis
    secret = totp.pending_secret(redis, domain.cipher, g.staff.id)
    if secret is None:
        flash("绑定已超时（10 分钟），请重新扫码。")
        return redirect(url_for("console.accounts.totp_setup"), 303)
    code = request.form.get("code", "")[:32]
    if not totp.check_code(redis, g.staff.id, secret, code, domain.clock()):
        return _enrol_page(secret, "验证码不正确，请输入应用上新出现的这一项的 6 位数字。", 400)
    enrol(g.staff.id, secret)
    flash("身份验证器已绑定，下次登录时请输入它显示的验证码。")
    return redirect(url_for("console.accounts.account"), 303)


# -- a director's actions on another account -----------------------------------------------------
def _other(db, user_id: int) -> StaffUser:
    user = db.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/users/<int(max=2147483647):user_id>/reset")
@requires(Permission.MANAGE_USERS)
def issue_reset(user_id: int):
    """A one-time reset link for another user, shown once to the director to hand over."""
    with runtime().unit() as work:
        user = _other(work.db, user_id)
        try:
            token = accounts.issue_reset(runtime().redis, user, g.staff)
        except StaffInputError as problem:
            return admin.users(str(problem), None, 400)
        record(work.db, "staff_reset", detail=user.username)
    link = url_for("console.accounts.redeem_reset", token=token, _external=True)
    return admin.users(issued={"username": user.username, "link": link, "token": token})


@bp.post("/users/<int(max=2147483647):user_id>/enable")
@requires(Permission.MANAGE_USERS)
def enable(user_id: int):
    """Switch a disabled account back on."""
    with runtime().unit() as work:
        user = _other(work.db, user_id)
        try:
            accounts.enable_staff(user)
        except StaffInputError as problem:
            return admin.users(str(problem), None, 400)
        record(work.db, "staff_enable", detail=user.username)
    flash(f"已启用账号 {user.username}。")
    return redirect(url_for("console.admin.users"), 303)


@bp.post("/users/<int(max=2147483647):user_id>/role")
@requires(Permission.MANAGE_USERS)
def change_role(user_id: int):
    """Give another account a new role (its sessions end)."""
    with runtime().unit() as work:
        user = _other(work.db, user_id)
        try:
            old = accounts.change_role(work.db, user, request.form.get("role", ""), g.staff)
        except StaffInputError as problem:
            work.rollback()
            return admin.users(str(problem), None, 400)
        record(work.db, "staff_role", detail=f"{user.username} {old}->{user.role}")
    flash(f"已将 {user.username} 的角色改为{ROLE_NAMES[user.role]}。")
    return redirect(url_for("console.admin.users"), 303)


@bp.post("/users/<int(max=2147483647):user_id>/clear-2fa")
@requires(Permission.MANAGE_USERS)
def clear_second_factor(user_id: int):
    """Remove another user's authenticator (a lost phone); they enrol again at the next sign-in."""
    with runtime().unit() as work:
        user = _other(work.db, user_id)
        if user.id == g.staff.id:
            return admin.users("不能清除自己的身份验证器，请在“我的账号”中重新绑定。", None, 400)
        accounts.clear_second_factor(runtime().domain.cipher, user)
        record(work.db, "totp_clear", detail=user.username)
    flash(f"已清除 {user.username} 的身份验证器，对方下次登录时重新绑定。")
    return redirect(url_for("console.admin.users"), 303)


# -- the reset link (public) -----------------------------------------------------------------------
@bp.route("/reset/<token>", methods=["GET", "POST"])
def redeem_reset(token: str):
    """Choose a new password with a director's one-time link."""
    token = token[:80]
    redis = runtime().redis
    with runtime().unit() as work:
        holder = accounts.reset_holder(work.db, redis, token)
    if holder is None:
        return render("reset.html", 404, person=None, token=token, error=None)
    if request.method == "GET":
        return render("reset.html", person=holder, token=token, error=None)
    with runtime().unit() as work:
        try:
            user = accounts.redeem_reset(
                work.db, redis, token, _form_password("password"), _form_password("confirm")
            )
        except StaffInputError as problem:
            work.rollback()
            return render("reset.html", 400, person=holder, token=token, error=str(problem))
        g.staff = user
        record(work.db, "password_reset")
        g.staff = None
    flash("新密码已设置，请登录。")
    return redirect(url_for("console.login"), 303)
