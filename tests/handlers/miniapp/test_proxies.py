"""Proxies through /api/v1: a parent's request started in /chat and finished with the notarised
authorisation uploaded to /proxies/<id>/document; acting for the graduate with ?acting_for=
within scope (audited, the graduate told); the graduate's list and one-step revocation."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from bot.core.effects import push_accounts
from bot.proxies import rules as proxies
from models import Account, Appeal, Attachment, AuditEvent, Binding, Proxy, Student
from tests.handlers.miniapp.test_api import _sms_code
from tests.miniapp_support import MiniClient, add_diploma, said_in
from tests.stubs import PNG_BYTES

GRADUATE_NO = "2017020118"


def _say(mini, text: str) -> str:
    return "\n".join(r["text"] for r in mini.post("/chat", {"text": text}).json["replies"])


def _db(app):
    return app.extensions["gradcert"].sessions()


@pytest.fixture
def graduate(mini_app, mini_demo, stubs):
    """李小红, bound on the Official Account (told of what a proxy does) and on the mini-program."""
    with _db(mini_app) as db:
        student = db.scalar(select(Student).where(Student.student_no == GRADUATE_NO))
        for channel, key in (("wx", "o-grad-oa"), ("wxa", "o-grad-mini")):
            account = Account(
                channel=channel,
                app_id=mini_app.config["WECHAT_APP_ID"]
                if channel == "wx"
                else mini_app.config["WXA_APP_ID"],
                user_key=key,
            )
            db.add(account)
            db.flush()
            db.add(Binding(account_id=account.id, student_id=student.id, channel=channel))
        db.commit()
        student_id = student.id
    add_diploma(mini_app, GRADUATE_NO)
    client = MiniClient(mini_app, stubs)
    client.login("wxa", "o-grad-mini")
    return student_id, client


@pytest.fixture
def parent(mini, mini_demo, graduate):
    """A parent on the mini-program whose request waits for the notarised authorisation."""
    _, _, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-parent")
    assert "申请为家人代办" in _say(mini, "5")
    assert "父母" in _say(mini, "1")
    _say(mini, "1")
    assert "代办人个人信息告知" in _say(mini, f"李小红 {id_number}")
    assert "需要毕业生本人同意" in _say(mini, "1")
    assert "138****0002" in _say(mini, "1")  # the code goes to the graduate's phone
    assert "公证书编号" in _say(mini, _sms_code(mini, phone))
    return mini


def _upload(
    mini, proxy_id: int, notarised_no="（2026）京东方证字第123号", photos=(PNG_BYTES,), key=None
):
    data = {
        "notarised_no": notarised_no,
        "photos": [(io.BytesIO(p), f"p{i}.png") for i, p in enumerate(photos)],
    }
    headers = {"Idempotency-Key": key} if key else None
    return mini.post(
        f"/proxies/{proxy_id}/document",
        data=data,
        json=None,
        headers=headers,
        content_type="multipart/form-data",
    )


def _activate(app, proxy_id: int, scope: str) -> None:
    """What a clerk's approval in the console does (tested in tests/handlers/test_console_proxies.py)."""
    with _db(app) as db:
        proxy = db.get(Proxy, proxy_id)
        proxies.activate(proxy)
        proxy.scope = scope
        db.commit()


def _queued_pushes(app) -> list[dict]:
    """The push_accounts payloads waiting in the RQ queue."""
    rt = app.extensions["gradcert"]
    return [job.args[1] for job in rt.queue.get_jobs() if job.args[0] is push_accounts]


def _account_id(app, key: str) -> int:
    with _db(app) as db:
        return db.scalar(select(Account.id).where(Account.user_key == key))


def test_parent_uploads_the_authorisation_then_acts_within_scope(parent, mini_app, graduate):
    graduate_id, _ = graduate
    request = parent.get("/proxies").json["request"]
    assert request["state"] == "awaiting_document" and request["name_masked"] == "李**"
    assert request["relation"] == "parent" and parent.get("/proxies").json["acting"] == []

    bad = _upload(parent, request["id"], notarised_no="abc")
    assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_document_no"
    assert _upload(parent, request["id"], photos=()).json["error"]["code"] == "photos_required"
    assert _upload(parent, request["id"], photos=(b"%PDF-1.4 not a photo",)).status_code == 422
    assert _upload(parent, 999999).status_code == 404
    res = _upload(parent, request["id"], key="doc-1")
    assert res.status_code == 200 and res.json["state"] == "awaiting_review"
    assert _upload(parent, request["id"], key="doc-1").headers["Idempotent-Replayed"] == "true"
    again = _upload(parent, request["id"])
    assert again.status_code == 409 and again.json["error"]["code"] == "proxy_not_awaiting_document"
    with _db(mini_app) as db:
        proxy = db.get(Proxy, request["id"])
        assert proxy.notarised_no == "(2026)京东方证字第123号"
        [photo] = db.scalars(select(Attachment).where(Attachment.proxy_id == proxy.id)).all()
        assert photo.state == "stored" and photo.content_type == "image/png"
    # the chat knows where the request stands
    assert "学校审核" in _say(parent, "我发了")

    denied = parent.get(f"/diploma?acting_for={request['id']}")
    assert (
        denied.status_code == 403 and denied.json["error"]["code"] == "proxy_not_allowed"
    )  # not reviewed yet
    _activate(mini_app, request["id"], "lookup")
    acting = parent.get("/proxies").json["acting"]
    assert [(a["id"], a["name_masked"], a["graduate_as"], a["scopes"]) for a in acting] == [
        (request["id"], "李**", "你的孩子", ["lookup"])
    ]

    res = parent.get(f"/diploma?acting_for={request['id']}")
    assert res.status_code == 200 and res.json["record"]["certificate_no"] == "139321202105001234"
    assert res.json["acting_for"]["name_masked"] == "李**"
    with _db(mini_app) as db:
        audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "view_diploma"))
        assert (
            audit.actor_account_id == _account_id(mini_app, "o-parent")
            and audit.subject_student_id == graduate_id
        )
        assert audit.detail.endswith(f"proxy:{request['id']}")
    [told] = _queued_pushes(mini_app)
    assert told["account_ids"] == [
        _account_id(mini_app, "o-grad-oa"),
        _account_id(mini_app, "o-grad-mini"),
    ]
    assert "父母" in told["text"] and "查询了毕业证书" in told["text"]

    outside = parent.get(f"/certificates?acting_for={request['id']}")
    assert outside.status_code == 403 and outside.json["error"]["code"] == "proxy_not_allowed"
    assert parent.get("/diploma").json["error"]["code"] == "not_bound"  # for themself: nothing
    assert parent.get("/diploma?acting_for=x1").status_code == 400


def test_the_authorisation_waits_for_a_working_photo_store(parent, mini_app):
    from bot.platform.attachment_store import S3Store

    rt = mini_app.extensions["gradcert"]
    working, rt.domain.attachments = (
        rt.domain.attachments,
        S3Store("http://127.0.0.1:9", "b", "AKID", "k", "r"),
    )
    proxy_id = parent.get("/proxies").json["request"]["id"]
    res = _upload(parent, proxy_id)
    assert res.status_code == 503 and res.json["error"]["code"] == "storage_unavailable"
    assert (
        parent.get("/proxies").json["request"]["state"] == "awaiting_document"
    )  # not sent to review empty
    rt.domain.attachments = working
    assert _upload(parent, proxy_id).json["state"] == "awaiting_review"
    assert parent.delete("/proxies/99999999999999999999999").status_code == 404
    assert parent.get("/diploma?acting_for=99999999999").status_code == 400


def test_acting_for_someone_elses_proxy_is_not_found(parent, mini_app, stubs):
    proxy_id = parent.get("/proxies").json["request"]["id"]
    _upload(parent, proxy_id)
    _activate(mini_app, proxy_id, "lookup,certificate,appeal")
    stranger = MiniClient(mini_app, stubs)
    stranger.login("wxa", "o-stranger")
    for call in (
        stranger.get(f"/diploma?acting_for={proxy_id}"),
        stranger.get(f"/certificates?acting_for={proxy_id}"),
        _upload(stranger, proxy_id),
        stranger.delete(f"/proxies/{proxy_id}"),
    ):
        assert call.status_code == 404, call.json
    assert stranger.get("/proxies").json == {"acting": [], "request": None, "for_me": []}


def test_a_proxy_issues_a_certificate_and_files_an_appeal_for_the_graduate(
    parent, mini_app, graduate
):
    graduate_id, _ = graduate
    proxy_id = parent.get("/proxies").json["request"]["id"]
    _upload(parent, proxy_id)
    _activate(mini_app, proxy_id, "lookup,certificate,appeal")

    issued = parent.post(f"/certificates?acting_for={proxy_id}", {"days": 60})
    assert issued.status_code == 201, issued.json
    code = issued.json["code"]
    assert [
        c["code"] for c in parent.get(f"/certificates?acting_for={proxy_id}").json["certificates"]
    ] == [code]
    assert (
        parent.get(f"/certificates/{code}").json["error"]["code"] == "not_bound"
    )  # without acting_for
    assert (
        parent.post(f"/certificates/{code}/close?acting_for={proxy_id}").json["status"] == "closed"
    )

    form = {"category": "other", "description": "孩子的毕业证书专业写错了，应该是护理。"}
    missing = parent.post(f"/appeals?acting_for={proxy_id}", form)
    assert missing.status_code == 400 and "你自己的联系电话" in missing.json["error"]["message"]
    filed = parent.post(f"/appeals?acting_for={proxy_id}", {**form, "contact_phone": "13900001111"})
    assert filed.status_code == 201, filed.json
    with _db(mini_app) as db:
        appeal = db.scalar(select(Appeal))
        assert appeal.student_id == appeal.acting_for_student_id == graduate_id
        assert appeal.account_id == _account_id(mini_app, "o-parent")
        actions = {
            a.action: a.detail
            for a in db.scalars(
                select(AuditEvent).where(
                    AuditEvent.actor_account_id == appeal.account_id,
                    AuditEvent.subject_student_id == graduate_id,
                )
            )
        }
        assert {"issue_certificate", "close_certificate", "file_appeal"} <= set(actions)
        assert all(
            actions[a].endswith(f"proxy:{proxy_id}") for a in ("issue_certificate", "file_appeal")
        )
    texts = [p["text"] for p in _queued_pushes(mini_app)]
    assert any("开具了电子证明" in t for t in texts) and any("提交了异议申请" in t for t in texts)


def test_the_graduate_sees_and_revokes_a_proxy_in_one_step(parent, mini_app, graduate):
    _, own = graduate
    proxy_id = parent.get("/proxies").json["request"]["id"]
    _upload(parent, proxy_id)
    _activate(mini_app, proxy_id, "lookup")
    [listed] = own.get("/proxies").json["for_me"]
    assert (
        listed["id"] == proxy_id
        and listed["relation_label"] == "父母"
        and listed["state"] == "active"
    )

    res = own.delete(f"/proxies/{proxy_id}")
    assert res.status_code == 200 and res.json == {"id": proxy_id, "state": "revoked"}
    assert own.delete(f"/proxies/{proxy_id}").status_code == 409
    with _db(mini_app) as db:
        proxy = db.get(Proxy, proxy_id)
        assert proxy.state == "revoked" and proxy.revoked_by == "graduate"
    told = [
        p
        for p in _queued_pushes(mini_app)
        if p["account_ids"] == [_account_id(mini_app, "o-parent")]
    ]
    assert told and "撤销" in told[-1]["text"]
    assert (
        parent.get(f"/diploma?acting_for={proxy_id}").json["error"]["code"] == "proxy_not_allowed"
    )


def test_a_proxy_may_withdraw_their_own_request(parent, mini_app):
    proxy_id = parent.get("/proxies").json["request"]["id"]
    assert parent.delete(f"/proxies/{proxy_id}").status_code == 200
    assert parent.get("/proxies").json["request"] is None
    with _db(mini_app) as db:
        assert db.get(Proxy, proxy_id).revoked_by == "proxy"


# -- the graduate is told the same, whichever way their proxy acts -----------------------------------
NOTICES = ("开具了电子证明", "下载了电子证明", "延长了电子证明", "关闭了电子证明")


def _acting_in_the_chat(parent) -> None:
    """Through /chat: act for the graduate, then issue, download, extend and close a certificate."""
    _say(parent, "0")
    _say(parent, "5")
    _say(parent, "2")
    assert "现在代 李**" in _say(parent, "2")
    assert "139321202105001234" in _say(parent, "2")
    _say(parent, "1")
    assert "电子证明已开具" in _say(parent, "60")
    for step in ("2", "2", "1"):
        _say(parent, step)
    assert "72小时内能下载" in _say(parent, "1")
    for step in ("2", "2", "1", "2"):
        _say(parent, step)
    assert "现在有效至" in _say(parent, "90")
    for step in ("2", "2", "1", "3"):
        _say(parent, step)
    assert "已关闭" in _say(parent, "1")


def _acting_through_the_api(parent, proxy_id: int) -> None:
    """Through /certificates?acting_for=: the same four actions."""
    code = parent.post(f"/certificates?acting_for={proxy_id}", {"days": 60}).json["code"]
    assert parent.get(f"/certificates/{code}/download?acting_for={proxy_id}").status_code == 200
    assert (
        parent.post(f"/certificates/{code}/extend?acting_for={proxy_id}", {"days": 90}).status_code
        == 200
    )
    assert (
        parent.post(f"/certificates/{code}/close?acting_for={proxy_id}").json["status"] == "closed"
    )


def _told_of_certificates(stubs) -> list[str]:
    return [t for t in stubs["wxa"].texts_to("o-grad-oa") if any(n in t for n in NOTICES)]


def test_a_proxys_certificate_actions_are_told_to_the_graduate_as_in_the_chat(
    parent, mini_app, stubs
):
    proxy_id = parent.get("/proxies").json["request"]["id"]
    _upload(parent, proxy_id)
    _activate(mini_app, proxy_id, "lookup,certificate")
    _acting_in_the_chat(parent)
    parent.run_jobs()
    in_the_chat = _told_of_certificates(stubs)
    assert [n for t in in_the_chat for n in NOTICES if n in t] == list(NOTICES)

    _acting_through_the_api(parent, proxy_id)
    parent.run_jobs()
    assert _told_of_certificates(stubs)[len(in_the_chat) :] == in_the_chat


CERTIFICATE_ACTIONS = (
    "issue_certificate",
    "certificate_link",
    "extend_certificate",
    "close_certificate",
)


def _audited(app, actions, number=r"[0-9A-Z]{16}|GA\d{8}-\d{4}") -> list[tuple[str, str]]:
    """(action, detail with the certificate code or ticket number as N) of the audit rows, in order."""
    with _db(app) as db:
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.id)
        ).all()
        return [(a.action, re.sub(number, "N", a.detail or "")) for a in rows]


def test_a_proxys_certificate_actions_are_audited_alike_in_the_chat_and_the_api(parent, mini_app):
    proxy_id = parent.get("/proxies").json["request"]["id"]
    _upload(parent, proxy_id)
    _activate(mini_app, proxy_id, "lookup,certificate")
    _acting_in_the_chat(parent)
    in_the_chat = _audited(mini_app, CERTIFICATE_ACTIONS)
    assert in_the_chat == [(action, f"N proxy:{proxy_id}") for action in CERTIFICATE_ACTIONS]
    _acting_through_the_api(parent, proxy_id)
    assert _audited(mini_app, CERTIFICATE_ACTIONS)[len(in_the_chat) :] == in_the_chat


def test_a_proxys_appeal_is_audited_and_told_alike_in_the_chat_and_the_api(parent, mini_app, stubs):
    proxy_id = parent.get("/proxies").json["request"]["id"]
    _upload(parent, proxy_id)
    _activate(mini_app, proxy_id, "lookup,appeal")
    for step in (
        "0",
        "5",
        "2",
        "2",
        "3",
        "9",
        "孩子的毕业证书专业写错了，应该是护理。",
        "1",
        "完成",
        "13900001111",
    ):
        _say(parent, step)
    assert "已提交" in _say(parent, "1")
    filed = parent.post(
        f"/appeals?acting_for={proxy_id}",
        {
            "category": "other",
            "contact_phone": "13900001111",
            "description": "孩子的毕业证书专业写错了，应该是护理。",
        },
    )
    assert filed.status_code == 201
    assert _audited(mini_app, ("file_appeal",)) == [("file_appeal", f"N proxy:{proxy_id}")] * 2
    parent.run_jobs()
    told = [t for t in stubs["wxa"].texts_to("o-grad-oa") if "异议" in t]
    assert len(told) == 2 and told[0] == told[1]


def test_a_proxy_refused_in_the_api_is_told_what_the_chat_tells(parent, mini_app, graduate):
    _, own = graduate
    proxy_id = parent.get("/proxies").json["request"]["id"]
    _upload(parent, proxy_id)
    _activate(mini_app, proxy_id, "lookup")
    res = parent.get(f"/certificates?acting_for={proxy_id}")
    assert res.status_code == 403 and res.json["error"]["code"] == "proxy_not_allowed"
    for step in ("0", "5", "2", "2", "2"):
        _say(parent, step)
    assert said_in(res.json["error"]["message"], _say(parent, "1"))  # 代办范围不包括这件事…

    assert own.delete(f"/proxies/{proxy_id}").status_code == 200
    res = parent.get(f"/diploma?acting_for={proxy_id}")
    assert res.status_code == 403 and res.json["error"]["code"] == "proxy_not_allowed"
    assert said_in(res.json["error"]["message"], _say(parent, "2"))  # 你的代办已结束…


def test_a_bad_document_number_is_refused_as_in_the_chat(parent):
    proxy_id = parent.get("/proxies").json["request"]["id"]
    res = _upload(parent, proxy_id, notarised_no="abc")
    assert res.status_code == 400 and res.json["error"]["code"] == "bad_document_no"
    assert _say(parent, "abc") == res.json["error"]["message"]  # the chat waits for the number too
