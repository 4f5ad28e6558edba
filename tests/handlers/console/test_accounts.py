"""Console accounts after creation: changing one's own password, a director's one-time reset link
(the password is never shown), re-enabling, role changes, clearing a lost authenticator, the last
sign-in shown, `gradcert create-staff --reset`; each audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.core import keys
from handlers.cli import create_staff_command
from models import AuditEvent, StaffUser
from tests.handlers.console.test_appeals import (
    DIRECTOR_PHONE,
    PASSWORD,
    login,
    make_staff,
    post,
    rt_of,
    token,
)

NEW_PASSWORD = "another long passphrase"


def _user(app, username) -> StaffUser:
    with rt_of(app).sessions() as db:
        return db.scalar(select(StaffUser).where(StaffUser.username == username))


def _audit(app, action):
    with rt_of(app).sessions() as db:
        return [
            (e.actor_staff, e.result, e.detail)
            for e in db.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        ]


def _director(app):
    make_staff(app, "boss", "director", DIRECTOR_PHONE, name="李主任")
    client = app.test_client()
    assert login(client, "boss").status_code == 302
    return client


def test_staff_change_their_own_password_and_other_sessions_end(app):
    make_staff(app)
    desk, phone = app.test_client(), app.test_client()
    login(desk)
    login(phone)
    desk.get("/console/account")
    res = post(
        desk,
        "/console/account/password",
        current="wrong one!!",
        password=NEW_PASSWORD,
        confirm=NEW_PASSWORD,
    )
    assert res.status_code == 400 and "当前密码不正确" in res.get_data(as_text=True)
    res = post(
        desk, "/console/account/password", current=PASSWORD, password=NEW_PASSWORD, confirm="typo"
    )
    assert res.status_code == 400 and "两次输入的新密码不一致" in res.get_data(as_text=True)
    res = post(
        desk, "/console/account/password", current=PASSWORD, password="short", confirm="short"
    )
    assert res.status_code == 400 and "密码需为" in res.get_data(as_text=True)
    res = post(
        desk,
        "/console/account/password",
        current=PASSWORD,
        password=NEW_PASSWORD,
        confirm=NEW_PASSWORD,
    )
    assert res.status_code == 303 and res.headers["Location"].endswith("/console/login")
    res = phone.get("/console/")  # the other session began before the change
    assert res.status_code == 302 and res.headers["Location"].endswith("/console/login")
    assert login(app.test_client(), password=PASSWORD).status_code == 401
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 302
    assert [r[1] for r in _audit(app, "password_change")] == ["refused"] * 3 + ["ok"]


def test_a_director_hands_over_a_one_time_reset_link(app):
    director = _director(app)
    make_staff(app)
    clerk_id = _user(app, "clerk1").id
    director.get("/console/users")
    res = post(director, f"/console/users/{clerk_id}/reset")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "clerk1 的重置密码链接" in html
    link = re.search(r'id="reset-link">([^<]+)<', html)[1]
    assert link.startswith("http://localhost/console/reset/") and PASSWORD not in html
    stored = rt_of(app).redis.get(keys.staff_reset(clerk_id))
    assert stored and link.rsplit(".", 1)[1].encode() not in stored  # only its digest
    path = link.removeprefix("http://localhost")

    visitor = app.test_client()
    page = visitor.get(path).get_data(as_text=True)
    assert "clerk1" in page and "设置新密码" in page
    res = post(visitor, path, password=NEW_PASSWORD, confirm="different pass")
    assert res.status_code == 400 and "不一致" in res.get_data(as_text=True)
    res = post(visitor, path, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert res.status_code == 303 and res.headers["Location"].endswith("/console/login")
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 302
    again = visitor.get(path)
    assert again.status_code == 404 and "已使用或已过期" in again.get_data(as_text=True)
    assert app.test_client().get("/console/reset/1.forgedforgedforgedforged").status_code == 404
    assert _audit(app, "staff_reset") == [("boss", "ok", "clerk1")]
    assert _audit(app, "password_reset") == [("clerk1", "ok", None)]


def test_re_enable_change_role_and_clear_an_authenticator(app):
    director = _director(app)
    make_staff(app)
    make_staff(app, "desk2", "clerk", "13700000007", name="赵办事")
    clerk_id, desk2_id = _user(app, "clerk1").id, _user(app, "desk2").id
    boss_id = _user(app, "boss").id
    director.get("/console/users")
    assert post(director, f"/console/users/{clerk_id}/disable").status_code == 303
    html = director.get("/console/users").get_data(as_text=True)
    assert "重新启用" in html
    assert post(director, f"/console/users/{clerk_id}/enable").status_code == 303
    assert _user(app, "clerk1").active
    assert post(director, f"/console/users/{clerk_id}/enable").status_code == 400

    res = post(director, f"/console/users/{clerk_id}/role", role="auditor")
    assert res.status_code == 400 and "需要手机号" in res.get_data(as_text=True)
    assert post(director, f"/console/users/{boss_id}/role", role="clerk").status_code == 400
    assert post(director, f"/console/users/{desk2_id}/role", role="boss").status_code == 400
    assert post(director, f"/console/users/{desk2_id}/role", role="auditor").status_code == 303
    assert _user(app, "desk2").role == "auditor"
    assert _audit(app, "staff_role") == [("boss", "ok", "desk2 clerk->auditor")]

    auditor = app.test_client()
    assert login(auditor, "desk2").status_code == 302  # enrols: the role needs a second factor
    assert _user(app, "desk2").totp_secret_enc is not None
    assert post(director, f"/console/users/{desk2_id}/clear-2fa").status_code == 303
    assert _user(app, "desk2").totp_secret_enc is None
    assert _audit(app, "totp_clear") == [("boss", "ok", "desk2")]
    html = director.get("/console/users").get_data(as_text=True)
    assert "最近登录" in html and html.count("未绑定") >= 2


def test_the_last_director_keeps_the_role(app):
    director = _director(app)
    make_staff(app, "boss2", "director", "13700000006", name="王主任")
    director.get("/console/users")
    boss2 = _user(app, "boss2").id
    assert post(director, f"/console/users/{boss2}/role", role="clerk").status_code == 303
    other = app.test_client()
    make_staff(app, "boss3", "director", "13700000005", name="张主任")
    login(other, "boss3")
    res = post(other, f"/console/users/{_user(app, 'boss').id}/role", role="clerk")
    assert res.status_code == 303  # two directors: one may go
    res = post(other, f"/console/users/{_user(app, 'boss3').id}/role", role="clerk")
    assert res.status_code == 400 and "不能更改自己的角色" in res.get_data(as_text=True)


def test_a_clerk_cannot_reset_or_change_anyone(app, client):
    make_staff(app)
    make_staff(app, "boss", "director", DIRECTOR_PHONE, name="李主任")
    login(client)
    client.get("/console/account")
    boss_id = _user(app, "boss").id
    for action in ("reset", "enable", "role", "clear-2fa", "disable"):
        assert post(client, f"/console/users/{boss_id}/{action}", role="clerk").status_code == 403
    assert rt_of(app).redis.get(keys.staff_reset(boss_id)) is None


def test_create_staff_reset_gives_the_first_director_a_new_password(app):
    make_staff(app, "boss", "director", DIRECTOR_PHONE, name="李主任")
    director = app.test_client()
    assert login(director, "boss").status_code == 302  # enrolled an authenticator
    with rt_of(app).sessions() as db:
        user = db.scalar(select(StaffUser).where(StaffUser.username == "boss"))
        user.active = False
        db.commit()
    runner = app.test_cli_runner()
    res = runner.invoke(
        create_staff_command,
        ["--username", "boss", "--reset"],
        env={"GRADCERT_STAFF_PASSWORD": NEW_PASSWORD},
    )
    assert res.exit_code == 0 and "reset director boss" in res.output, res.output
    assert NEW_PASSWORD not in res.output
    user = _user(app, "boss")
    assert user.active and user.totp_secret_enc is None
    assert director.get("/console/").status_code == 302  # the old session ended
    assert login(app.test_client(), "boss", NEW_PASSWORD).status_code == 302
    assert _audit(app, "password_reset") == [("cli", "ok", "boss via cli")]
    missing = runner.invoke(
        create_staff_command,
        ["--username", "nobody", "--reset"],
        env={"GRADCERT_STAFF_PASSWORD": NEW_PASSWORD},
    )
    assert missing.exit_code == 2 and "没有这个用户名" in missing.output
    exists = runner.invoke(
        create_staff_command,
        ["--username", "boss", "--name", "李主任", "--role", "director", "--phone", DIRECTOR_PHONE],
        env={"GRADCERT_STAFF_PASSWORD": NEW_PASSWORD},
    )
    assert exists.exit_code == 2 and "已存在" in exists.output


def test_my_account_shows_the_last_sign_in(app, client):
    make_staff(app)
    login(client)
    html = client.get("/console/account").get_data(as_text=True)
    assert re.search(r'id="last-login">\d{4}-\d{2}-\d{2} \d{2}:\d{2}', html), html
    assert "未绑定（可选" in html and token(client)
