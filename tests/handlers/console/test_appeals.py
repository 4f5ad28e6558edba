"""The staff console: login and sessions, CSRF, the queue, the ticket page with audited reveal,
staff actions and the push they trigger, attachments, director pages and `gradcert create-staff`."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta, timezone

import pyotp
import pytest
from sqlalchemy import select

from bot.appeals.rules import file_appeal
from bot.core import keys
from bot.platform import staff_auth as staff_service
from bot.platform import totp
from handlers.cli import create_staff_command
from models import Account, Appeal, AppealEvent, Attachment, AuditEvent, StaffUser, Student, utcnow
from tests.conftest import APP_ID, Chat, outbox
from tests.stubs import wechat_api_stub

PASSWORD = "correct horse battery"
DIRECTOR_PHONE = "13900000009"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
    b"\xaeB`\x82"
)


# -- helpers -------------------------------------------------------------------------------------
def rt_of(app):
    return app.extensions["gradcert"]


def make_staff(app, username="clerk1", role="clerk", phone=None, name="王办事") -> int:
    rt = rt_of(app)
    with rt.sessions() as db:
        user = staff_service.create_staff(
            db, rt.domain.cipher, username, name, role, PASSWORD, phone
        )
        db.commit()
        return user.id


def token(client) -> str:
    with client.session_transaction() as s:
        return s.get("csrf", "")


def login(client, username="clerk1", password=PASSWORD, next_url=None):
    """Sign in; where the role needs a second factor, pass it as a person with an authenticator
    app would (enrolling from the page's secret the first time)."""
    client.get("/console/login")
    query = f"?next={next_url}" if next_url else ""
    res = client.post(
        f"/console/login{query}",
        data={"username": username, "password": password, "csrf_token": token(client)},
    )
    if res.status_code == 303 and res.headers["Location"].endswith("/console/2fa"):
        res = pass_second_factor(client, username)
    return res


def pass_second_factor(client, username):
    """The authenticator code of `username` for the pending sign-in (the secret read from the
    enrolment page, or the enrolled one), as of the app's clock."""
    rt = rt_of(client.application)
    page = client.get("/console/2fa").get_data(as_text=True)
    shown = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    with rt.sessions() as db:
        user = db.scalar(select(StaffUser).where(StaffUser.username == username))
        secret = shown[1].replace(" ", "") if shown else totp.secret_of(rt.domain.cipher, user)
    rt.redis.delete(keys.staff_totp_used(user.id))  # a test signs in more often than every 30 s
    code = pyotp.TOTP(secret).at(rt.domain.clock())
    return client.post("/console/2fa", data={"code": code, "csrf_token": token(client)})


def post(client, url, **data):
    return client.post(url, data={"csrf_token": token(client), **data})


def file_ticket(
    app,
    student_no=None,
    urgent=False,
    deadline=None,
    category="other",
    campus="main",
    days_ago=0,
    status=None,
    user_key=None,
    **extra,
) -> tuple[int, str]:
    """A ticket filed `days_ago` days ago, optionally moved to `status` (bypassing the lifecycle)."""
    rt = rt_of(app)
    with rt.sessions() as db:
        account = Account(
            channel="wx", app_id=APP_ID, user_key=user_key or f"o-{utcnow().timestamp()}-{category}"
        )
        db.add(account)
        db.flush()
        student = (
            db.scalar(select(Student).where(Student.student_no == student_no))
            if student_no
            else None
        )
        appeal = Appeal(
            account_id=account.id,
            student_id=student.id if student else None,
            category=category,
            description="证书查询不到，麻烦核实。",
            urgent=urgent,
            urgent_deadline=deadline,
            campus=campus,
            urgent_reason="出国留学" if urgent else None,
            **extra,
        )
        file_appeal(db, appeal, now=utcnow() - timedelta(days=days_ago))
        if status:
            appeal.status = status
        db.commit()
        return appeal.id, appeal.ticket_no


def audits(app, action):
    with rt_of(app).sessions() as db:
        return db.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def status_of(app, appeal_id) -> str:
    with rt_of(app).sessions() as db:
        return db.get(Appeal, appeal_id).status


@pytest.fixture
def clerk(app, client):
    make_staff(app)
    assert login(client).status_code == 302
    return client


@pytest.fixture
def director(app):
    make_staff(app, "boss", "director", DIRECTOR_PHONE, name="李主任")
    client = app.test_client()
    assert login(client, "boss").status_code == 302
    return client


# -- login, sessions, CSRF, headers ----------------------------------------------------------------
def test_login_ok_sets_a_hardened_cookie_and_goes_to_the_queue(app, client):
    make_staff(app)
    res = login(client)
    assert res.status_code == 302 and res.headers["Location"].endswith("/console/")
    cookie = res.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/console/")
    assert page.status_code == 200 and "工单队列" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert [a.result for a in audits(app, "staff_login")] == ["ok"]


def test_cookie_is_secure_when_configured(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    make_staff(app)
    assert "Secure" in login(app.test_client()).headers["Set-Cookie"]


def test_login_rotates_the_session_and_logout_revokes_it(app, client):
    make_staff(app)
    client.get("/console/login")
    before = token(client)
    login(client)
    with client.session_transaction() as s:
        kept = dict(s)
    assert kept["csrf"] != before and kept["sid"]
    assert post(client, "/console/logout").status_code == 302
    with client.session_transaction() as s:  # replay the old cookie: the server forgot the session
        s.update(kept)
    res = client.get("/console/")
    assert res.status_code == 302 and "/console/login" in res.headers["Location"]


def test_bad_password_and_unknown_user_get_the_same_answer_and_the_same_hash_work(
    app, client, monkeypatch
):
    make_staff(app)
    checked = []
    real = staff_service.check_password
    monkeypatch.setattr(
        staff_service, "check_password", lambda h, p: checked.append(h) or real(h, p)
    )
    wrong = login(client, "clerk1", "wrong password!")
    unknown = login(client, "nobody", "wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.get_data(
        as_text=True
    ) and "用户名或密码不正确" in unknown.get_data(as_text=True)
    assert len(checked) == 2 and all(h.startswith("scrypt:") for h in checked)
    login(
        client, "My Secret Pass!", "x"
    )  # a password typed into the username field stays out of the log
    assert [(a.result, a.detail) for a in audits(app, "staff_login")] == [
        ("failed", "username=clerk1"),
        ("failed", "username=nobody"),
        ("failed", "username=(invalid)"),
    ]


def test_five_failures_block_the_username_for_fifteen_minutes(app, client):
    make_staff(app)
    make_staff(app, "clerk2")
    for _ in range(5):
        assert login(client, "clerk1", "nope nope nope").status_code == 401
    blocked = login(client, "clerk1", PASSWORD)
    assert blocked.status_code == 401 and "尝试次数过多，请 15 分钟后再试" in blocked.get_data(
        as_text=True
    )
    assert login(client, "CLERK2", PASSWORD).status_code == 302  # other usernames are not affected


def test_idle_session_times_out_with_a_message(app, clerk):
    with clerk.session_transaction() as s:
        s["seen"] -= 31 * 60
    res = clerk.get("/console/")
    assert res.status_code == 302 and res.headers["Location"].endswith("/console/login")
    assert "登录已超时" in clerk.get("/console/login").get_data(as_text=True)
    assert clerk.get("/console/").status_code == 302


def test_unauthenticated_goes_to_login_and_comes_back_but_never_off_site(app, client):
    appeal_id, _ = file_ticket(app)
    res = client.get(f"/console/tickets/{appeal_id}")
    assert res.status_code == 302 and "/console/login?next=" in res.headers["Location"]
    make_staff(app)
    assert (
        login(client, next_url=f"/console/tickets/{appeal_id}").headers["Location"]
        == f"/console/tickets/{appeal_id}"
    )
    client.post("/console/logout", data={"csrf_token": token(client)})
    assert (
        login(client, next_url="https://evil.example/console/").headers["Location"] == "/console/"
    )


def test_posts_without_the_right_csrf_token_are_refused(app, clerk):
    appeal_id, _ = file_ticket(app)
    data = {"to": "under_review", "note": "开始处理", "from": "submitted"}
    assert clerk.post(f"/console/tickets/{appeal_id}/status", data=data).status_code == 400
    wrong = clerk.post(
        f"/console/tickets/{appeal_id}/status", data={**data, "csrf_token": "forged"}
    )
    assert wrong.status_code == 400 and "页面已过期" in wrong.get_data(as_text=True)
    assert status_of(app, appeal_id) == "submitted"
    assert (
        app.test_client()
        .post("/console/login", data={"username": "clerk1", "password": PASSWORD})
        .status_code
        == 400
    )


# -- the queue -----------------------------------------------------------------------------------
def test_queue_sorts_urgent_first_then_by_due_date_and_flags_overdue(app, clerk):
    _, plain = file_ticket(app)
    _, urgent_late = file_ticket(app, urgent=True, deadline=date.today() + timedelta(days=30))
    _, urgent_soon = file_ticket(app, urgent=True, deadline=date.today() + timedelta(days=3))
    _, overdue = file_ticket(app, days_ago=20, category="name_change", campus="gy")
    _, resolved = file_ticket(app, status="resolved")
    html = clerk.get("/console/").get_data(as_text=True)
    shown = re.findall(r">(GA\d{8}-\d{4})<", html)
    assert shown == [urgent_soon, urgent_late, overdue, plain]  # resolved is not open
    row = re.search(rf"<tr class=\"overdue\">\s*<td class=\"ticket\"><a [^>]+>{overdue}<", html)
    assert row and html.count('<span class="tag overdue">已逾期</span>') == 1
    assert "共 4 条" in html


def test_staff_are_warned_while_the_holiday_calendar_runs_out(make_app, tmp_path):
    def page(app, today):
        rt_of(app).domain.clock = lambda: datetime.combine(today, time(4), timezone.utc)
        client = app.test_client()
        login(client)
        return client.get("/console/").get_data(as_text=True)

    app = make_app()
    make_staff(app)
    assert 'id="calendar-notice"' not in page(app, date(2026, 10, 31))  # 61 days before it ends
    html = page(app, date(2026, 11, 25))
    assert (
        "节假日日历只到 2026-12-31" in html
        and "2027 年放假安排" in html
        and "holidays.json" in html
    )
    assert 'id="calendar-notice"' not in app.test_client().get("/console/login").get_data(
        as_text=True
    )

    later = tmp_path / "holidays-2027.json"
    later.write_text(
        json.dumps({"2026": {}, "2027": {"holidays": ["2027-01-01"]}}), encoding="utf-8"
    )
    app = make_app(GRADCERT_HOLIDAYS_FILE=str(later))
    assert 'id="calendar-notice"' not in page(app, date(2026, 11, 25))


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=resolved", ["resolved"]),
        ("category=name_change", ["overdue"]),
        ("campus=gy", ["overdue"]),
        ("overdue=yes", ["overdue"]),
        ("status=all", ["urgent", "overdue", "plain", "resolved"]),
    ],
)
def test_queue_filters(app, clerk, query, expected):
    tickets = {
        "plain": file_ticket(app)[1],
        "urgent": file_ticket(app, urgent=True)[1],
        "overdue": file_ticket(app, days_ago=20, category="name_change", campus="gy")[1],
        "resolved": file_ticket(app, status="resolved")[1],
    }
    html = clerk.get(f"/console/?{query}").get_data(as_text=True)
    assert re.findall(r">(GA\d{8}-\d{4})<", html) == [tickets[name] for name in expected]


def test_queue_pages_fifty_rows(app, clerk):
    for _ in range(51):
        file_ticket(app)
    first = clerk.get("/console/").get_data(as_text=True)
    assert len(re.findall(r">(GA\d{8}-\d{4})<", first)) == 50 and "第 1 / 2 页" in first
    second = clerk.get("/console/?page=2").get_data(as_text=True)
    assert len(re.findall(r">(GA\d{8}-\d{4})<", second)) == 1


# -- the ticket page -----------------------------------------------------------------------------
def test_ticket_view_is_audited_and_masks_personal_data_until_revealed(app, demo, clerk):
    no, name, id_number, phone, _campus = demo["张三"]
    contact, version = rt_of(app).domain.cipher.seal("13912345678", b"phone")
    appeal_id, ticket_no = file_ticket(
        app, student_no=no, contact_phone_enc=contact, pii_key_version=version
    )
    html = clerk.get(f"/console/tickets/{appeal_id}").get_data(as_text=True)
    assert ticket_no in html and "证书查询不到" in html and "申请人" in html
    assert (
        "张*" in html
        and id_number[:4] + "*" * 10 + id_number[-4:] in html
        and "139****5678" in html
    )
    assert id_number not in html and phone not in html and "13912345678" not in html
    [viewed] = audits(app, "view_ticket")
    assert (
        viewed.actor_staff == "clerk1" and viewed.detail == ticket_no and viewed.subject_student_id
    )
    assert audits(app, "reveal_pii") == []

    revealed = post(clerk, f"/console/tickets/{appeal_id}/reveal").get_data(as_text=True)
    assert (
        id_number in revealed
        and phone in revealed
        and "13912345678" in revealed
        and name in revealed
    )
    [reveal] = audits(app, "reveal_pii")
    assert reveal.actor_staff == "clerk1" and reveal.subject_student_id == viewed.subject_student_id
    again = clerk.get(f"/console/tickets/{appeal_id}").get_data(as_text=True)
    assert id_number not in again  # the reveal was for that page view only


def test_ticket_without_a_matched_student_shows_the_claimed_identity(app, clerk):
    cipher = rt_of(app).domain.cipher
    claimed, version = cipher.seal("11010519491231002X", b"id")
    appeal_id, _ = file_ticket(
        app,
        claimed_name="赵六六",
        claimed_id_enc=claimed,
        claimed_student_no="2015000001",
        pii_key_version=version,
    )
    html = clerk.get(f"/console/tickets/{appeal_id}").get_data(as_text=True)
    assert (
        "未匹配到学籍" in html
        and "赵**" in html
        and "1101**********002X" in html
        and "2015000001" in html
    )
    revealed = post(clerk, f"/console/tickets/{appeal_id}/reveal").get_data(as_text=True)
    assert "11010519491231002X" in revealed and "赵六六" in revealed
    assert audits(app, "reveal_pii")[0].subject_student_id is None


def test_status_change_writes_an_event_audits_and_pushes_to_the_filer(make_app):
    stub = wechat_api_stub(APP_ID, "s3cret")
    try:
        app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
        make_staff(app)
        client = app.test_client()
        login(client)
        appeal_id, ticket_no = file_ticket(app, user_key="o-filer-1")
        res = post(
            client,
            f"/console/tickets/{appeal_id}/status",
            to="need_more_info",
            **{"from": "submitted"},
            note="请补充毕业证书照片",
        )
        assert res.status_code == 303
        assert status_of(app, appeal_id) == "need_more_info"
        with rt_of(app).sessions() as db:
            event = db.scalars(
                select(AppealEvent).where(
                    AppealEvent.appeal_id == appeal_id, AppealEvent.kind == "status"
                )
            ).one()
            assert (event.from_status, event.to_status, event.note) == (
                "submitted",
                "need_more_info",
                "请补充毕业证书照片",
            )
            assert event.actor_staff_id is not None
        assert audits(app, "appeal_status")[0].detail == f"{ticket_no} submitted -> need_more_info"
        assert rt_of(app).queue.count == 1
        html = client.get(f"/console/tickets/{appeal_id}").get_data(as_text=True)
        assert "已改为“需要补充材料”" in html and "王办事" in html and "请补充毕业证书照片" in html
        Chat(app).run_jobs()
        [sent] = stub.calls("/cgi-bin/message/custom/send")
        content = sent.json()["text"]["content"]
        assert (
            sent.json()["touser"] == "o-filer-1"
            and ticket_no in content
            and "请补充毕业证书照片" in content
        )
    finally:
        stub.stop()


def test_each_notice_tells_its_own_change_even_when_the_worker_runs_late(make_app):
    stub = wechat_api_stub(APP_ID, "s3cret")
    try:
        app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
        make_staff(app)
        client = app.test_client()
        login(client)
        appeal_id, ticket_no = file_ticket(app, user_key="o-filer-2")
        post(
            client,
            f"/console/tickets/{appeal_id}/status",
            to="need_more_info",
            **{"from": "submitted"},
            note="请补充毕业证书照片",
        )
        post(
            client,
            f"/console/tickets/{appeal_id}/status",
            to="rejected",
            **{"from": "need_more_info"},
            note="不符合更正条件",
            next_route="chsi",
        )
        assert status_of(app, appeal_id) == "rejected"
        Chat(app).run_jobs()  # both notices go out only now
        first, second = (
            c.json()["text"]["content"] for c in stub.calls("/cgi-bin/message/custom/send")
        )
        assert "需要补充材料" in first and "请补充毕业证书照片" in first and "未通过" not in first
        assert "未通过" in second and "不符合更正条件" in second and "学信网" in second
    finally:
        stub.stop()


def test_disallowed_transition_stale_form_and_missing_note_are_refused(app, clerk):
    appeal_id, _ = file_ticket(app)
    url = f"/console/tickets/{appeal_id}/status"
    closed = post(clerk, url, to="closed", note="直接关闭", **{"from": "submitted"})
    assert closed.status_code == 400 and "不能改为“已关闭”" in closed.get_data(as_text=True)
    assert post(clerk, url, to="resolved", note="  ", **{"from": "submitted"}).status_code == 400
    assert (
        post(clerk, url, to="resolved", note="长" * 501, **{"from": "submitted"}).status_code == 400
    )
    stale = post(clerk, url, to="resolved", note="已更正", **{"from": "under_review"})
    assert stale.status_code == 400 and "其他人更新" in stale.get_data(as_text=True)
    assert status_of(app, appeal_id) == "submitted" and rt_of(app).queue.count == 0
    assert {a.result for a in audits(app, "appeal_status")} == {"refused"}


def test_rejection_needs_the_next_route(app, clerk):
    appeal_id, _ = file_ticket(app)
    url = f"/console/tickets/{appeal_id}/status"
    refused = post(clerk, url, to="rejected", note="学籍系统无记录", **{"from": "submitted"})
    assert refused.status_code == 400 and "下一步办理途径" in refused.get_data(as_text=True)
    assert (
        post(
            clerk,
            url,
            to="rejected",
            note="学籍系统无记录",
            next_route="elsewhere",
            **{"from": "submitted"},
        ).status_code
        == 400
    )
    assert (
        post(
            clerk,
            url,
            to="rejected",
            note="学籍系统无记录",
            next_route="chsi",
            **{"from": "submitted"},
        ).status_code
        == 303
    )
    with rt_of(app).sessions() as db:
        appeal = db.get(Appeal, appeal_id)
        assert (appeal.status, appeal.next_route, appeal.resolution) == (
            "rejected",
            "chsi",
            "学籍系统无记录",
        )


def test_internal_note_is_kept_but_not_sent(app, clerk):
    appeal_id, ticket_no = file_ticket(app)
    assert post(clerk, f"/console/tickets/{appeal_id}/note", note="").status_code == 400
    assert (
        post(clerk, f"/console/tickets/{appeal_id}/note", note="已电话联系学院").status_code == 303
    )
    with rt_of(app).sessions() as db:
        [note] = db.scalars(select(AppealEvent).where(AppealEvent.kind == "note")).all()
        assert note.note == "已电话联系学院" and note.actor_staff_id
    assert rt_of(app).queue.count == 0 and status_of(app, appeal_id) == "submitted"
    assert audits(app, "appeal_note")[0].detail == ticket_no
    assert "内部，申请人看不到" in clerk.get(f"/console/tickets/{appeal_id}").get_data(as_text=True)


def test_attachments_are_served_only_to_staff_and_only_when_stored(make_app, tmp_path):
    folder = tmp_path / "attachments"
    app = make_app(GRADCERT_ATTACHMENT_DIR=str(folder))
    appeal_id, _ = file_ticket(app)
    (folder / str(appeal_id)).mkdir(parents=True)
    (folder / str(appeal_id) / "photo.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(PNG)
    with rt_of(app).sessions() as db:
        rows = [
            Attachment(
                appeal_id=appeal_id,
                media_id="m1",
                state="stored",
                storage_key=f"{appeal_id}/photo.png",
                content_type="image/png",
            ),
            Attachment(appeal_id=appeal_id, media_id="m2", state="pending"),
            Attachment(
                appeal_id=appeal_id,
                media_id="m3",
                state="stored",
                storage_key="../secret.png",
                content_type="image/png",
            ),
        ]
        db.add_all(rows)
        db.commit()
        stored, pending, escaping = (a.id for a in rows)
    anonymous = app.test_client().get(f"/console/attachments/{stored}")
    assert anonymous.status_code == 302 and "/console/login" in anonymous.headers["Location"]
    make_staff(app)
    client = app.test_client()
    login(client)
    res = client.get(f"/console/attachments/{stored}")
    assert res.status_code == 200 and res.data == PNG and res.mimetype == "image/png"
    assert res.headers["Cache-Control"] == "no-store"
    assert client.get(f"/console/attachments/{pending}").status_code == 404
    assert client.get(f"/console/attachments/{escaping}").status_code == 404
    assert len(audits(app, "view_attachment")) == 1
    html = client.get(f"/console/tickets/{appeal_id}").get_data(as_text=True)
    assert f'src="/console/attachments/{stored}"' in html and "下载中" in html


# -- director pages ------------------------------------------------------------------------------
def test_clerk_is_forbidden_from_director_pages(app, clerk):
    for url in ("/console/export", "/console/users", "/console/audit"):
        res = clerk.get(url)
        assert res.status_code == 403 and "没有权限" in res.get_data(as_text=True)
    assert post(clerk, "/console/export/code").status_code == 403
    assert (
        post(
            clerk,
            "/console/users",
            username="x2",
            display_name="x",
            role="director",
            password=PASSWORD,
        ).status_code
        == 403
    )
    assert outbox(app) == []
    assert "导出" not in clerk.get("/console/").get_data(as_text=True).split("</nav>")[0]


def test_director_export_needs_the_sms_code_once(app, director, demo):
    _, open_ticket = file_ticket(app, student_no=demo["张三"][0], urgent=True)
    _, resolved = file_ticket(app, status="resolved")
    assert director.get("/console/export?status=all").status_code == 200
    without = post(director, "/console/export", code="123456", status="all")
    assert without.status_code == 400 and "已过期或已使用" in without.get_data(as_text=True)
    assert post(director, "/console/export/code", status="all").status_code == 303
    [sms] = outbox(app)
    assert sms["phone"] == DIRECTOR_PHONE
    wrong = "000000" if sms["code"] != "000000" else "111111"
    assert post(director, "/console/export", code=wrong, status="all").status_code == 400
    res = post(director, "/console/export", code=sms["code"], status="all")
    assert res.status_code == 200 and res.mimetype == "text/csv"
    assert "attachment" in res.headers["Content-Disposition"]
    assert res.data.startswith(b"\xef\xbb\xbf")
    text = res.data.decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0].startswith("申请编号,类别,状态,加急") and len(lines) == 3
    assert open_ticket in text and resolved in text and "已解决" in text
    assert demo["张三"][2] not in text and demo["张三"][3] not in text
    assert (
        post(director, "/console/export", code=sms["code"], status="all").status_code == 400
    )  # used up
    assert [a.result for a in audits(app, "export_csv")] == ["expired", "wrong", "ok", "expired"]
    assert "rows=2" in audits(app, "export_csv")[2].detail


def test_export_follows_the_filters(app, director):
    file_ticket(app)
    file_ticket(app, status="resolved")
    post(director, "/console/export/code")
    code = outbox(app)[-1]["code"]
    text = post(director, "/console/export", code=code).data.decode("utf-8-sig")
    assert len(text.strip().splitlines()) == 2 and "已解决" not in text  # default: open tickets


def test_director_manages_users_and_a_disabled_user_is_signed_out(app, director):
    res = post(
        director,
        "/console/users",
        username="Clerk9",
        display_name="新同事",
        role="clerk",
        password=PASSWORD,
    )
    assert res.status_code == 303
    no_phone = post(
        director,
        "/console/users",
        username="dir2",
        display_name="副主任",
        role="director",
        password=PASSWORD,
    )
    assert no_phone.status_code == 400 and "需要手机号" in no_phone.get_data(as_text=True)
    short = post(
        director,
        "/console/users",
        username="clerk8",
        display_name="x",
        role="clerk",
        password="short",
    )
    assert short.status_code == 400
    clerk = app.test_client()
    assert login(clerk, "clerk9").status_code == 302
    with rt_of(app).sessions() as db:
        user = db.scalar(select(StaffUser).where(StaffUser.username == "clerk9"))
        boss = db.scalar(select(StaffUser).where(StaffUser.username == "boss"))
    page = director.get("/console/users").get_data(as_text=True)
    assert "clerk9" in page and "新同事" in page and DIRECTOR_PHONE not in page
    assert post(director, f"/console/users/{boss.id}/disable").status_code == 400
    assert post(director, f"/console/users/{user.id}/disable").status_code == 303
    assert clerk.get("/console/").status_code == 302
    assert login(clerk, "clerk9").status_code == 401
    assert [a.detail for a in audits(app, "staff_create")] == ["clerk9 role=clerk"]
    assert [a.detail for a in audits(app, "staff_disable")] == ["clerk9"]


def test_director_browses_the_audit_log_with_filters(app, director):
    make_staff(app)
    clerk = app.test_client()
    login(clerk)
    appeal_id, ticket_no = file_ticket(app)
    clerk.get(f"/console/tickets/{appeal_id}")
    post(clerk, f"/console/tickets/{appeal_id}/reveal")
    html = director.get("/console/audit?action=reveal_pii").get_data(as_text=True)
    assert (
        html.count("<tr>") == 2
        and "显示个人信息" in html
        and ticket_no in html
        and "clerk1" in html
    )
    html = director.get("/console/audit?staff=boss").get_data(as_text=True)
    table = html.split('id="audit"')[1]
    assert "clerk1" not in table and "登录" in table
    assert len(audits(app, "view_audit")) == 2


# -- gradcert create-staff ------------------------------------------------------------------------
def test_create_staff_command(app, monkeypatch):
    runner = app.test_cli_runner()
    monkeypatch.delenv("GRADCERT_STAFF_PASSWORD", raising=False)
    res = runner.invoke(
        create_staff_command,
        ["--username", "desk1", "--name", "柜台一", "--role", "clerk"],
        input=f"{PASSWORD}\nmismatch!!!\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert res.exit_code == 0, res.output
    assert "created clerk desk1" in res.output and PASSWORD not in res.output
    no_phone = runner.invoke(
        create_staff_command,
        ["--username", "boss2", "--name", "主任", "--role", "director"],
        env={"GRADCERT_STAFF_PASSWORD": PASSWORD},
    )
    assert no_phone.exit_code == 2 and "手机号" in no_phone.output
    res = runner.invoke(
        create_staff_command,
        ["--username", "boss2", "--name", "主任", "--role", "director", "--phone", "139 0000 0008"],
        env={"GRADCERT_STAFF_PASSWORD": PASSWORD},
    )
    assert res.exit_code == 0, res.output
    with rt_of(app).sessions() as db:
        boss = db.scalar(select(StaffUser).where(StaffUser.username == "boss2"))
        assert boss.password_hash.startswith("scrypt:") and boss.role == "director"
        assert staff_service.staff_phone(rt_of(app).domain.cipher, boss) == "13900000008"
    assert login(app.test_client(), "desk1").status_code == 302
