"""Verification for organisations: a director issues a key in the console (shown once, stored
hashed), the organisation checks a code with it through `POST /api/v1/verifications`, the holder
is told in the chat, every lookup is audited, the daily quota holds under concurrent requests, and
revoked, expired, missing or made-up keys are refused."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.diploma import certificates
from models import AuditEvent, Diploma, OrganisationLookup, Student, VerifierKey, utcnow
from tests.conftest import APP_ID, Chat, outbox
from tests.handlers.console.test_appeals import login, make_staff, post
from tests.handlers.console.test_proxies import pushed
from tests.miniapp_support import add_diploma
from tests.stubs import wechat_api_stub


@pytest.fixture
def school(make_app):
    """(app, WeChat API stub, a signed-in director's console client, the certificate code) with
    李小红 bound in the chat on `g1` and holding a valid e-certificate."""
    from bot.platform.demo import demo_students, seed_demo

    stub = wechat_api_stub(APP_ID, "s3cret")
    app = make_app(WECHAT_APP_SECRET="s3cret", WECHAT_API_BASE=stub.url)
    rt = app.extensions["gradcert"]
    seed_demo(rt)
    _, _, id_number, phone, _ = {r[1]: r for r in demo_students()}["李小红"]
    chat = Chat(app)
    chat.say("g1", "1")
    chat.say("g1", "1")
    chat.say("g1", f"李小红 {id_number} 2017020118")
    chat.run_jobs()
    code = [m for m in outbox(app) if m["phone"] == phone][-1]["code"]
    assert "绑定成功" in chat.say("g1", code)
    add_diploma(app, "2017020118")
    with rt.sessions() as db:
        diploma = db.scalar(select(Diploma).join(Student).where(Student.student_no == "2017020118"))
        cert = certificates.issue(
            db, rt.domain.keyring, diploma.student, diploma, None, 30, "示范职业技术学院"
        )
        db.commit()
        cert_code = cert.code
    make_staff(app, "boss", "director", phone="13900000001", name="李主任")
    console = app.test_client()
    assert login(console, "boss").status_code == 302
    yield app, stub, console, cert_code
    stub.stop()


def submission(console) -> str:
    page = console.get("/console/verifiers").get_data(as_text=True)
    return re.search(r'name="submission" value="([^"]+)"', page).group(1)


def issue_key(console, organisation="星辰科技有限公司", quota="100", days="365") -> str:
    page = post(
        console,
        "/console/verifiers",
        submission=submission(console),
        organisation=organisation,
        contact="王经理 13800001111",
        daily_quota=quota,
        days=days,
    )
    assert page.status_code == 201, page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    return re.search(r'id="issued-key">(gcv_[^<]+)<', page.get_data(as_text=True)).group(1)


def check(app, key, code, name=None, client=None):
    body = {"code": code} if name is None else {"code": code, "name": name}
    return (client or app.test_client()).post(
        "/api/v1/verifications", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def test_an_organisation_checks_a_code_and_the_holder_is_told(school):
    app, stub, console, code = school
    key = issue_key(console)
    res = check(app, key, code.lower()[:4] + "-" + code.lower()[4:], name="李 小红")
    assert res.status_code == 200, res.json
    answer = res.json
    assert answer["status"] == "valid" and answer["genuine"] is True
    assert answer["name_matched"] is True and answer["name"] == "李小红"
    assert answer["major"] == "计算机应用技术" and answer["verify_url_path"] == f"/v/{code}"
    assert check(app, key, code, name="张三").json["name_matched"] is False
    Chat(app).run_jobs()
    told = [text for user, text in pushed(stub) if user == "g1" and "查验了你的电子证明" in text]
    assert len(told) == 2 and told[0].startswith("星辰科技有限公司于") and code in told[0]
    assert all(len(text) <= 200 for text in told)
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        lookups = db.scalars(select(OrganisationLookup).order_by(OrganisationLookup.id)).all()
        assert [(lk.result, lk.name_matched) for lk in lookups] == [
            ("valid", True),
            ("valid", False),
        ]
        audits = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "third_party_verify")
        ).all()
        assert len(audits) == 2 and audits[0].subject_student_id is not None
        stored = db.scalar(select(VerifierKey))
        assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert stored.last_used_at is not None
    # an unknown code: the same shape, 404, nobody told
    unknown = check(app, key, "ABCD" * 4)
    assert unknown.status_code == 404 and unknown.json["status"] == "unknown"
    assert unknown.json["name"] is None
    # the console lists the key with today's use, never the key itself again
    listing = console.get("/console/verifiers").get_data(as_text=True)
    assert "星辰科技有限公司" in listing and "3/100" in listing and key not in listing
    assert key[:12] in listing


def test_the_daily_quota_holds_under_concurrent_requests(school):
    app, _stub, console, code = school
    key = issue_key(console, quota="3")
    statuses: list[int] = []

    def one():
        statuses.append(check(app, key, code).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 3 + [429] * 5
    spent = check(app, key, code)
    assert spent.status_code == 429 and spent.json["error"]["code"] == "quota_spent"
    assert 0 < int(spent.headers["Retry-After"]) <= 86400
    # the next college day the quota is back
    rt = app.extensions["gradcert"]
    rt.domain.clock = lambda: utcnow() + timedelta(days=1)
    assert check(app, key, code).status_code == 200


def test_revoked_expired_missing_and_made_up_keys_are_refused(school):
    app, _stub, console, code = school
    key = issue_key(console, days="10")
    assert check(app, key, code).status_code == 200
    rt = app.extensions["gradcert"]
    rt.domain.clock = lambda: utcnow() + timedelta(days=11)
    expired = check(app, key, code)
    assert expired.status_code == 401 and expired.json["error"]["code"] == "key_expired"
    rt.domain.clock = utcnow
    with rt.sessions() as db:
        key_id = db.scalar(select(VerifierKey.id))
    assert post(console, f"/console/verifiers/{key_id}/revoke").status_code == 303
    revoked = check(app, key, code)
    assert revoked.status_code == 401 and revoked.json["error"]["code"] == "key_revoked"
    assert "停用" in revoked.json["error"]["message"]
    made_up = check(app, "gcv_" + "A" * 43, code)
    assert made_up.status_code == 401 and made_up.json["error"]["code"] == "key_unknown"
    assert made_up.headers["WWW-Authenticate"] == "Bearer"
    missing = app.test_client().post("/api/v1/verifications", json={"code": code})
    assert missing.status_code == 401 and missing.json["error"]["code"] == "key_missing"
    fresh = issue_key(console)
    bad = app.test_client().post(
        "/api/v1/verifications", json={"code": 5}, headers={"Authorization": f"Bearer {fresh}"}
    )
    assert bad.status_code == 422 and bad.json["error"]["code"] == "schema_violation"
    with rt.sessions() as db:  # refused keys never reach a lookup
        assert {lk.key_id for lk in db.scalars(select(OrganisationLookup))} == {key_id}
        actions = {a.action for a in db.scalars(select(AuditEvent))}
    assert {"verifier_create", "verifier_revoke"} <= actions


def test_only_directors_issue_keys_and_bad_input_is_told(school):
    app, _stub, console, _code = school
    form = {"organisation": "X", "contact": "王", "daily_quota": "0"}
    refused = post(console, "/console/verifiers", submission=submission(console), **form)
    assert refused.status_code == 400 and "单位名称" in refused.get_data(as_text=True)
    # the same form sent twice (a reload of the answer page) issues one key only
    token = submission(console)
    fields = {
        "organisation": "星辰科技有限公司",
        "contact": "王经理",
        "daily_quota": "5",
        "days": "30",
    }
    assert post(console, "/console/verifiers", submission=token, **fields).status_code == 201
    again = post(console, "/console/verifiers", submission=token, **fields)
    assert again.status_code == 303
    assert "已经提交过" in console.get("/console/verifiers").get_data(as_text=True)
    assert post(console, "/console/verifiers", **fields).status_code == 303  # no token: nothing
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(func.count()).select_from(VerifierKey)) == 1
    make_staff(app, "clerk1")
    clerk = app.test_client()
    assert login(clerk).status_code == 302
    assert clerk.get("/console/verifiers").status_code == 403
    assert (
        post(clerk, "/console/verifiers", organisation="星辰", contact="王经理").status_code == 403
    )
