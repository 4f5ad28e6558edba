"""The console's review of proxy authorisations: the queue, the audited request page with the
graduate's record masked until revealed, approve (within a scope), refuse and revoke, the pushes
they trigger, CSRF and who may do it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.replies import ReplyBook
from bot.proxies import staff as proxy_review
from models import Account, Attachment, AuditEvent, Binding, Proxy, Student, utcnow
from tests.conftest import APP_ID, Chat
from tests.handlers.console.test_appeals import PNG, audits, login, make_staff, post, rt_of
from tests.stubs import wechat_api_stub

NOTARISED = "(2026)京东方证字第123号"


def make_proxy(
    app,
    student_no: str,
    state: str = "awaiting_review",
    relation: str = "parent",
    user_key: str = "o-mom",
    notarised_no: str | None = NOTARISED,
    folder: Path | None = None,
    photo: bytes = PNG,
    days_ago: int = 0,
    graduate_key: str | None = None,
    **extra,
) -> int:
    """A proxy request of a `wx` account for the student, with a stored photo in `folder` (or a
    pending one without), optionally with the graduate's own bound account `graduate_key`."""
    rt = rt_of(app)
    with rt.sessions() as db:
        student = db.scalar(select(Student).where(Student.student_no == student_no))
        account = db.scalar(select(Account).where(Account.user_key == user_key))
        if account is None:
            account = Account(channel="wx", app_id=APP_ID, user_key=user_key)
            db.add(account)
            db.flush()
        if graduate_key:
            own = Account(channel="wx", app_id=APP_ID, user_key=graduate_key)
            db.add(own)
            db.flush()
            db.add(Binding(account_id=own.id, student_id=student.id, channel="wx"))
        at = utcnow() - timedelta(days=days_ago)
        proxy = Proxy(
            proxy_account_id=account.id,
            student_id=student.id,
            relation=relation,
            state=state,
            confirmed_by="sms_code",
            graduate_confirmed_at=at,
            notarised_no=notarised_no,
            created_at=at,
            **extra,
        )
        db.add(proxy)
        db.flush()
        attachment = Attachment(proxy_id=proxy.id, media_id=f"m-{proxy.id}", created_at=at)
        if folder is not None:
            key = f"proxy-{proxy.id}/photo.png"
            (folder / key).parent.mkdir(parents=True, exist_ok=True)
            (folder / key).write_bytes(photo)
            attachment.state, attachment.storage_key, attachment.content_type = (
                "stored",
                key,
                "image/png",
            )
        db.add(attachment)
        db.commit()
        return proxy.id


def proxy_of(app, proxy_id) -> Proxy:
    with rt_of(app).sessions() as db:
        return db.get(Proxy, proxy_id)


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "attachments"


@pytest.fixture
def console(make_app, folder, demo_of):
    """(app, the WeChat API stub, a signed-in clerk's client)."""
    stub = wechat_api_stub(APP_ID, "s3cret")
    app = make_app(
        WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url, GRADCERT_ATTACHMENT_DIR=str(folder)
    )
    demo_of(app)
    make_staff(app)
    client = app.test_client()
    assert login(client).status_code == 302
    yield app, stub, client
    stub.stop()


@pytest.fixture
def demo_of():
    from bot.platform.demo import demo_students, seed_demo

    def seed(app):
        seed_demo(rt_of(app))
        return {row[1]: row for row in demo_students()}

    return seed


def zhang(_app=None):
    from bot.platform.demo import demo_students

    return {row[1]: row for row in demo_students()}["张三"]


def pushed(stub) -> list[tuple[str, str]]:
    return [
        (r.json()["touser"], r.json()["text"]["content"])
        for r in stub.calls("/cgi-bin/message/custom/send")
    ]


# -- the queue -----------------------------------------------------------------------------------
def test_queue_lists_awaiting_review_first_oldest_first_with_masked_columns(console, folder):
    app, _stub, client = console
    no = zhang(app)[0]
    newer = make_proxy(app, no, folder=folder, days_ago=1, user_key="o-a")
    active = make_proxy(app, no, state="active", user_key="o-b", days_ago=9)
    older = make_proxy(app, no, user_key="o-c", days_ago=3, relation="spouse")
    waiting = make_proxy(app, no, state="awaiting_graduate", user_key="o-d", notarised_no=None)
    html = client.get("/console/proxies").get_data(as_text=True)
    assert re.findall(r'href="/console/proxies/(\d+)"', html) == [
        str(i) for i in (older, newer, waiting, active)
    ]
    assert "代办审核" in html.split("</nav>")[0] and 'aria-current="page">代办审核' in html
    first = html.split("<tbody>")[1].split("</tr>")[0]
    for shown in ("待审核", "配偶", "张*", "微信公众号", "(202" + "*" * 10 + "3号", "下载中"):
        assert shown in first, shown
    assert NOTARISED not in html and "张三" not in html
    assert (
        "已收到" in html.split("</tr>")[2]
        and "无照片" not in html.split("<tbody>")[1].split("</tr>")[0]
    )
    assert "共 4 条；待审核 2 条" in html
    only = client.get("/console/proxies?state=active").get_data(as_text=True)
    assert re.findall(r'href="/console/proxies/(\d+)"', only) == [str(active)]
    assert audits(app, "view_proxy") == []  # the queue shows nothing unmasked


def test_mask_notarised():
    assert proxy_review.mask_notarised("(2026)京东方证字第123号") == "(202" + "*" * 10 + "3号"
    assert proxy_review.mask_notarised("2026123") == "2026*23"
    assert proxy_review.mask_notarised("202612") == "******"
    assert proxy_review.mask_notarised(None) == "—"


def test_not_logged_in_goes_to_the_login_page(console):
    app, _stub, _client = console
    proxy_id = make_proxy(app, zhang(app)[0])
    anonymous = app.test_client()
    for url in ("/console/proxies", f"/console/proxies/{proxy_id}"):
        res = anonymous.get(url)
        assert res.status_code == 302 and "/console/login?next=" in res.headers["Location"]
    anonymous.get("/console/login")
    res = post(anonymous, f"/console/proxies/{proxy_id}/approve", note="ok", scope="lookup")
    assert res.status_code == 302 and "/console/login" in res.headers["Location"]
    assert proxy_of(app, proxy_id).state == "awaiting_review"


# -- the request page ----------------------------------------------------------------------------
def test_request_page_is_audited_shows_the_number_and_photo_and_masks_the_graduate(console, folder):
    app, _stub, client = console
    _no, name, id_number, phone, _ = zhang(app)
    proxy_id = make_proxy(app, zhang(app)[0], folder=folder)
    html = client.get(f"/console/proxies/{proxy_id}").get_data(as_text=True)
    assert "父母" in html and NOTARISED in html and "验证码发到毕业生登记的手机" in html
    assert (
        "张*" in html
        and id_number[:4] + "*" * 10 + id_number[-4:] in html
        and phone[:3] + "****" in html
    )
    assert id_number not in html and phone not in html and name not in html
    [attachment_id] = re.findall(r'src="/console/attachments/(\d+)"', html)
    [viewed] = audits(app, "view_proxy")
    with rt_of(app).sessions() as db:
        graduate_id = db.get(Proxy, proxy_id).student_id
    assert (viewed.actor_staff, viewed.subject_student_id, viewed.detail) == (
        "clerk1",
        graduate_id,
        f"proxy:{proxy_id}",
    )
    photo = client.get(f"/console/attachments/{attachment_id}")
    assert photo.status_code == 200 and photo.data == PNG
    assert audits(app, "view_attachment")[0].detail == f"proxy:{proxy_id} #{attachment_id}"
    assert audits(app, "view_attachment")[0].subject_student_id == graduate_id
    assert client.get("/console/proxies/999999").status_code == 404


def test_reveal_is_a_post_and_audited(console):
    app, _stub, client = console
    _no, name, id_number, phone, _ = zhang(app)
    proxy_id = make_proxy(app, zhang(app)[0])
    assert client.get(f"/console/proxies/{proxy_id}/reveal").status_code == 405
    assert client.post(f"/console/proxies/{proxy_id}/reveal").status_code == 400  # no CSRF token
    assert audits(app, "reveal_pii") == []
    html = post(client, f"/console/proxies/{proxy_id}/reveal").get_data(as_text=True)
    assert id_number in html and phone in html and name in html and "已显示完整信息" in html
    [reveal] = audits(app, "reveal_pii")
    assert (
        reveal.actor_staff == "clerk1"
        and reveal.detail == f"proxy:{proxy_id}"
        and reveal.subject_student_id
    )
    assert id_number not in client.get(f"/console/proxies/{proxy_id}").get_data(as_text=True)


# -- decisions -----------------------------------------------------------------------------------
def test_approve_within_a_restricted_scope_activates_and_tells_both_sides(console, folder):
    app, stub, client = console
    proxy_id = make_proxy(app, zhang(app)[0], folder=folder, graduate_key="o-grad")
    res = post(
        client,
        f"/console/proxies/{proxy_id}/approve",
        note="公证书与公证处核实无误",
        scope=["lookup", "appeal"],
    )
    assert res.status_code == 303 and res.headers["Location"].endswith(
        f"/console/proxies/{proxy_id}"
    )
    proxy = proxy_of(app, proxy_id)
    assert (proxy.state, proxy.scope, proxy.review_note) == (
        "active",
        "lookup,appeal",
        "公证书与公证处核实无误",
    )
    assert proxy.reviewed_by_staff_id and proxy.valid_until
    [row] = audits(app, "proxy_review")
    assert (row.actor_staff, row.subject_student_id, row.result) == (
        "clerk1",
        proxy.student_id,
        "ok",
    )
    assert row.detail == f"proxy:{proxy_id} approved scope=lookup,appeal"
    assert rt_of(app).queue.count == 2
    page = client.get(f"/console/proxies/{proxy_id}").get_data(as_text=True)
    assert "已通过，代办已生效。已通知代办人和毕业生。" in page and "王办事" in page
    assert "查询毕业证书、提交异议" in page
    assert 'id="revoke-form"' in page and 'id="approve-form"' not in page
    Chat(app).run_jobs()
    sent = dict(pushed(stub))
    assert sent["o-mom"].startswith("代办已生效") and "张*（你的孩子）" in sent["o-mom"]
    assert "查询毕业证书、提交异议" in sent["o-mom"] and "开电子证明" not in sent["o-mom"]
    assert sent["o-grad"].startswith("你的家人（父母）获准代你办理查询毕业证书、提交异议")
    assert "回复“我的代办人”可以撤销" in sent["o-grad"]
    assert all(len(text) <= 200 for text in sent.values())


def test_approve_needs_a_note_a_scope_and_a_photo_and_is_done_once(console, folder):
    app, _stub, client = console
    proxy_id = make_proxy(app, zhang(app)[0], folder=folder)
    url = f"/console/proxies/{proxy_id}/approve"
    no_note = post(client, url, note=" ", scope="lookup")
    assert no_note.status_code == 400 and "请填写说明" in no_note.get_data(as_text=True)
    no_scope = post(client, url, note="核实无误")
    assert no_scope.status_code == 400 and "至少勾选一项" in no_scope.get_data(as_text=True)
    assert "核实无误</textarea>" in no_scope.get_data(as_text=True)  # the note is kept
    assert post(client, url, note="核实无误", scope="everything").status_code == 400
    assert post(client, url, note="长" * 101, scope="lookup").status_code == 400
    assert proxy_of(app, proxy_id).state == "awaiting_review" and rt_of(app).queue.count == 0
    assert {a.result for a in audits(app, "proxy_review")} == {"refused"}
    assert post(client, url, note="核实无误", scope="lookup").status_code == 303
    again = post(client, url, note="再点一次", scope="lookup")
    assert again.status_code == 400 and "代办中" in again.get_data(as_text=True)

    pending = make_proxy(app, zhang(app)[0], user_key="o-other")  # the photo is still downloading
    no_photo = post(client, f"/console/proxies/{pending}/approve", note="核实无误", scope="lookup")
    assert no_photo.status_code == 400 and "公证书照片" in no_photo.get_data(as_text=True)
    assert proxy_of(app, pending).state == "awaiting_review"


def test_refuse_tells_the_proxy_why(console, folder):
    app, stub, client = console
    proxy_id = make_proxy(app, zhang(app)[0], folder=folder, graduate_key="o-grad")
    assert post(client, f"/console/proxies/{proxy_id}/refuse", note="").status_code == 400
    res = post(
        client, f"/console/proxies/{proxy_id}/refuse", note="照片看不清公证书编号，请重新拍照"
    )
    assert res.status_code == 303
    proxy = proxy_of(app, proxy_id)
    assert (proxy.state, proxy.review_note) == ("refused", "照片看不清公证书编号，请重新拍照")
    assert audits(app, "proxy_review")[-1].detail == f"proxy:{proxy_id} refused"
    Chat(app).run_jobs()
    [(to, text)] = pushed(stub)
    assert (
        to == "o-mom" and "没有通过" in text and "照片看不清公证书编号" in text and len(text) <= 200
    )
    assert 'id="approve-form"' not in client.get(f"/console/proxies/{proxy_id}").get_data(
        as_text=True
    )


def test_staff_revoke_an_active_proxy_and_both_sides_are_told(console, folder):
    app, stub, client = console
    proxy_id = make_proxy(
        app,
        zhang(app)[0],
        state="active",
        folder=folder,
        graduate_key="o-grad",
        activated_at=utcnow(),
        valid_until=utcnow() + timedelta(days=300),
    )
    assert post(client, f"/console/proxies/{proxy_id}/revoke", note="").status_code == 400
    assert (
        post(client, f"/console/proxies/{proxy_id}/revoke", note="毕业生来电要求撤销").status_code
        == 303
    )
    proxy = proxy_of(app, proxy_id)
    assert (proxy.state, proxy.revoked_by) == ("revoked", "staff") and proxy.revoked_at
    [row] = [a for a in audits(app, "proxy_revoke") if a.result == "ok"]
    assert row.actor_staff == "clerk1" and row.subject_student_id == proxy.student_id
    page = client.get(f"/console/proxies/{proxy_id}").get_data(as_text=True)
    assert "毕业生来电要求撤销" in page and 'id="revoke-form"' not in page
    Chat(app).run_jobs()
    sent = dict(pushed(stub))
    assert "学校已撤销" in sent["o-mom"] and "毕业生来电要求撤销" in sent["o-mom"]
    assert "你的家人（父母）" in sent["o-grad"] and "毕业生来电要求撤销" in sent["o-grad"]
    again = post(client, f"/console/proxies/{proxy_id}/revoke", note="再撤一次")
    assert again.status_code == 400


def test_posts_without_the_csrf_token_are_refused(console, folder):
    app, _stub, client = console
    proxy_id = make_proxy(app, zhang(app)[0], folder=folder)
    data = {"note": "核实无误", "scope": "lookup"}
    assert client.post(f"/console/proxies/{proxy_id}/approve", data=data).status_code == 400
    forged = client.post(
        f"/console/proxies/{proxy_id}/refuse", data={**data, "csrf_token": "forged"}
    )
    assert forged.status_code == 400 and "页面已过期" in forged.get_data(as_text=True)
    assert proxy_of(app, proxy_id).state == "awaiting_review" and audits(app, "proxy_review") == []


@pytest.mark.parametrize("role, phone", [("clerk", None), ("director", "13900000009")])
def test_both_roles_review(console, folder, role, phone):
    app, _stub, _clerk = console
    make_staff(app, f"{role}9", role, phone)
    client = app.test_client()
    assert login(client, f"{role}9").status_code == 302
    proxy_id = make_proxy(app, zhang(app)[0], folder=folder)
    assert client.get("/console/proxies").status_code == 200
    assert (
        post(
            client, f"/console/proxies/{proxy_id}/approve", note="核实无误", scope="certificate"
        ).status_code
        == 303
    )
    assert (proxy_of(app, proxy_id).state, proxy_of(app, proxy_id).scope) == (
        "active",
        "certificate",
    )
    assert audits(app, "proxy_review")[-1].actor_staff == f"{role}9"


def test_director_finds_the_decisions_in_the_audit_log(console, folder):
    app, _stub, clerk = console
    proxy_id = make_proxy(app, zhang(app)[0], folder=folder)
    clerk.get(f"/console/proxies/{proxy_id}")
    post(clerk, f"/console/proxies/{proxy_id}/approve", note="核实无误", scope="lookup")
    make_staff(app, "boss", "director", "13900000009")
    director = app.test_client()
    login(director, "boss")
    html = director.get("/console/audit?action=proxy_review").get_data(as_text=True)
    assert "代办审核" in html and f"proxy:{proxy_id} approved scope=lookup" in html
    assert '<option value="view_proxy"' in html


def test_reply_templates_fit_one_screen():
    book = ReplyBook()
    longest = "长" * proxy_review.NOTE_LIMIT
    texts = [
        book.render(
            "proxy/review_approved",
            name="欧阳**",
            who="你的孩子",
            scopes="查询毕业证书、开电子证明、提交异议",
            until="2027-01-01",
        ),
        book.render(
            "proxy/review_graduate_notice",
            service_point=False,
            relation="父母",
            scopes="查询毕业证书、开电子证明、提交异议",
            until="2027-01-01",
        ),
        book.render(
            "proxy/review_graduate_notice",
            service_point=True,
            relation="村级事务中心",
            scopes="查询毕业证书",
            until="2027-01-01",
        ),
        book.render("proxy/review_refused", name="欧阳**", note=longest),
        book.render("proxy/staff_revoked_for_proxy", name="欧阳**", note=longest),
        book.render(
            "proxy/staff_revoked_for_graduate", service_point=False, relation="父母", note=longest
        ),
    ]
    assert all(len(text) <= 200 for text in texts), [len(t) for t in texts]
    assert texts[2].startswith("村级事务中心获准代你办理")
    for name in ("review_approved", "review_refused", "review_graduate_notice"):
        path = (
            Path(__file__).resolve().parents[3] / "templates" / "replies" / "proxy" / f"{name}.txt"
        )
        assert len(path.read_text(encoding="utf-8")) <= 200


def test_a_graduate_without_a_bound_account_is_not_pushed_to(console, folder):
    app, stub, client = console
    proxy_id = make_proxy(app, zhang(app)[0], folder=folder)
    post(
        client,
        f"/console/proxies/{proxy_id}/approve",
        note="核实无误",
        scope=["lookup", "certificate", "appeal"],
    )
    assert rt_of(app).queue.count == 1
    with rt_of(app).sessions() as db:
        assert (
            db.scalar(select(AuditEvent).where(AuditEvent.action == "proxy_review")).result == "ok"
        )
