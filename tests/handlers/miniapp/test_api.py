"""The mini-program channels through /api/v1: login on both channels, the whole path for an Alipay
user, the phone shortcut, chat, idempotency, rate limits and the error format."""

from __future__ import annotations

import io
import json
import logging

from sqlalchemy import func, select

from bot.appeals.notices import ticket_changed
from models import (
    Account,
    Appeal,
    AppealStatus,
    Attachment,
    AuditEvent,
    Binding,
    Certificate,
    Consent,
)
from tests.channel_stubs import ALIPAY_APP_ID, WXA_APP_ID, encrypted_phone
from tests.conftest import outbox
from tests.miniapp_support import MiniClient, add_diploma
from tests.stubs import PNG_BYTES


def _sms_code(mini, phone: str) -> str:
    mini.run_jobs()
    sent = [m for m in outbox(mini.app) if m["phone"] == phone]
    assert sent, "no SMS was sent"
    return sent[-1]["code"]


def _count(app, model) -> int:
    with app.extensions["gradcert"].sessions() as db:
        return db.scalar(select(func.count()).select_from(model))


# -- login ------------------------------------------------------------------------------------------
def test_wechat_login_keeps_the_session_key_on_the_server(mini, stubs, mini_app):
    answer = mini.login("wxa", "o-wxa-user-1")
    assert answer["channel"] == "wxa" and answer["bound"] is False and answer["expires_in"] == 7200
    [call] = stubs["wxa"].calls("/sns/jscode2session")
    assert call.query["js_code"].startswith("code-")
    res = mini.get("/session")
    assert res.status_code == 200 and res.json == {
        "channel": "wxa",
        "bound": False,
        "phone_masked": None,
    }
    rt = mini_app.extensions["gradcert"]
    assert not any(b"WXA-SESSION-KEY" in (rt.redis.dump(k) or b"") for k in rt.redis.keys("*"))
    assert "WXA-SESSION-KEY" not in json.dumps(answer)
    with rt.sessions() as db:
        account = db.scalar(select(Account))
        assert (account.channel, account.app_id, account.user_key) == (
            "wxa",
            WXA_APP_ID,
            "o-wxa-user-1",
        )


def test_alipay_login_signs_the_request_and_checks_the_answer(mini, stubs, mini_app, keys):
    answer = mini.login("alipay", "2088000000000001")
    assert answer["channel"] == "alipay"
    [call] = stubs["alipay"].calls("/gateway.do")
    assert (
        call.query["method"] == "alipay.system.oauth.token"
    )  # the stub verified its RSA2 signature
    assert "ALIPAY-ACCESS-TOKEN" not in json.dumps(answer)
    with mini_app.extensions["gradcert"].sessions() as db:
        account = db.scalar(select(Account))
        assert (account.channel, account.app_id, account.user_key) == (
            "alipay",
            ALIPAY_APP_ID,
            "2088000000000001",
        )


def test_bad_login_codes_and_a_forged_gateway_answer(mini, stubs, keys):
    res = mini.client.post("/api/v1/session", json={"channel": "wxa", "code": "nope"})
    assert res.status_code == 401 and res.json["error"]["code"] == "login_refused"
    res = mini.client.post("/api/v1/session", json={"channel": "alipay", "code": "nope"})
    assert res.status_code == 401 and res.json["error"]["code"] == "login_refused"
    stubs["alipay"].gateway_key = keys["app"]  # answers now signed with a key that is not Alipay's
    stubs["alipay"].auth_codes["good"] = "2088000000000002"
    res = mini.client.post("/api/v1/session", json={"channel": "alipay", "code": "good"})
    assert res.status_code == 502 and res.json["error"]["code"] == "channel_unavailable"
    res = mini.client.post("/api/v1/session", json={"channel": "weibo", "code": "x"})
    assert res.status_code == 400 and res.json["error"]["message"]
    res = mini.client.post("/api/v1/session", data="{not json", content_type="application/json")
    assert res.status_code == 400 and res.json["error"]["code"] == "bad_json"


def test_logout_revokes_the_token(mini):
    mini.login("wxa", "o-wxa-user-2")
    assert mini.delete("/session").status_code == 204
    res = mini.get("/session")
    assert res.status_code == 401 and res.json["error"]["code"] == "unauthorized"
    assert res.headers["WWW-Authenticate"] == "Bearer"


# -- the whole path for an Alipay user ------------------------------------------------------------
def test_alipay_user_binds_looks_up_issues_and_appeals(mini, mini_app, mini_demo, stubs, caplog):
    caplog.set_level(logging.DEBUG)
    _, _, id_number, phone, _ = mini_demo["李小红"]
    mini.login("alipay", "2088000000000010")
    status = mini.get("/binding").json
    assert status["bound"] is False and status["consented"] is False
    res = mini.post(
        "/binding",
        {
            "name": "李小红",
            "id_number": id_number.lower(),
            "student_no": "2017020118",
            "consent": True,
        },
    )
    assert res.status_code == 202, res.json
    assert res.json == {
        "status": "code_sent",
        "purpose": "bind",
        "phone_masked": "138****0002",
        "expires_in": 300,
    }
    res = mini.post("/code/verify", {"code": _sms_code(mini, phone)})
    assert (
        res.status_code == 200
        and res.json["status"] == "bound"
        and res.json["verified_by"] == "sms"
    )
    assert (
        res.json["binding"]["name_masked"] == "李**"
        and res.json["binding"]["verification_fresh"] is True
    )

    add_diploma(mini_app, "2017020118")
    record = mini.get("/diploma").json
    assert (
        record["state"] == "record" and record["record"]["certificate_no"] == "139321202105001234"
    )
    assert record["record"]["major"] == "计算机应用技术"
    assert record["record"]["campus_name"] == "主校区"

    key = {"Idempotency-Key": "issue-1"}
    first = mini.post("/certificates", {"days": 90}, headers=key)
    assert first.status_code == 201, first.json
    again = mini.post("/certificates", {"days": 90}, headers=key)
    assert (
        again.status_code == 201
        and again.json == first.json
        and again.headers["Idempotent-Replayed"] == "true"
    )
    assert (
        mini.post("/certificates", {"days": 30}, headers=key).json["error"]["code"]
        == "idempotency_key_reused"
    )
    assert _count(mini_app, Certificate) == 1
    code = first.json["code"]
    assert mini.post("/certificates", {"days": 10}).json["error"]["code"] == "bad_field"
    listing = mini.get("/certificates").json["certificates"]
    assert [c["code"] for c in listing] == [code] and listing[0]["status"] == "valid"
    assert mini.post(f"/certificates/{code}/extend", {"days": 180}).status_code == 200
    link = mini.get(f"/certificates/{code}/download").json["url"]
    path = link.split("verify.example.edu.cn", 1)[1]
    pdf = mini.client.get(path)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert mini.post(f"/certificates/{code}/close").json["status"] == "closed"
    assert (
        mini.get(f"/certificates/{code}/download").json["error"]["code"] == "certificate_not_valid"
    )
    assert mini.post(f"/certificates/{code}/close").status_code == 409

    res = mini.post(
        "/appeals",
        data={
            "category": "migration_loss",
            "description": "毕业证书查不到，早年的数据",
            "form_id": "FORM-1",
            "photos": [(io.BytesIO(PNG_BYTES), "d.png")],
        },
        json=None,
        headers={"Idempotency-Key": "appeal-1"},
        content_type="multipart/form-data",
    )
    assert res.status_code == 201, res.json
    ticket = res.json["ticket_no"]
    assert res.json["status"] == "submitted" and res.json["photos"][0]["state"] == "stored"
    assert mini.get("/appeals").json["appeals"][0]["ticket_no"] == ticket
    with mini_app.extensions["gradcert"].sessions() as db:
        appeal = db.scalar(select(Appeal))
        assert (
            appeal.student_id is not None
            and db.scalar(select(Attachment)).content_type == "image/png"
        )
        from bot.appeals.rules import change_status

        change_status(db, appeal, AppealStatus.NEED_MORE_INFO, "请补充毕业证书背面的照片")
        db.commit()
        appeal_id = appeal.id
    mini_app.extensions["gradcert"].run_effects(
        None, [ticket_changed(appeal_id, "请补充毕业证书背面的照片")]
    )
    mini.run_jobs()
    [sent] = stubs["alipay"].sent
    assert sent["to_user_id"] == "2088000000000010" and sent["form_id"] == "FORM-1"
    assert sent["user_template_id"] == "TPL-ALIPAY-APPEAL" and sent["page"].endswith(
        f"ticket={ticket}"
    )
    assert json.loads(sent["data"])["keyword1"]["value"] == ticket
    res = mini.post(f"/appeals/{ticket}/information", {"text": "背面照片稍后补上"})
    assert res.status_code == 200 and res.json["status"] == "under_review"
    assert [e["kind"] for e in mini.get(f"/appeals/{ticket}").json["events"]] == [
        "submitted",
        "status",
        "info",
        "status",
    ]
    for secret in (id_number, id_number.lower(), phone):
        assert secret not in caplog.text
        assert not any(
            secret.encode() in key for key in mini_app.extensions["gradcert"].redis.keys("*")
        )


# -- the phone shortcut ---------------------------------------------------------------------------
def test_a_proven_phone_that_is_the_registrars_replaces_the_code(mini, mini_app, mini_demo, stubs):
    _, _, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-phone-1")
    stubs["wxa"].phone_codes["pc-1"] = phone
    proof = mini.post("/session/phone", {"code": "pc-1"})
    assert proof.status_code == 200 and proof.json == {
        "phone_masked": "138****0002",
        "valid_for": 600,
    }
    res = mini.post("/binding", {"name": "李小红", "id_number": id_number, "consent": True})
    assert (
        res.status_code == 200
        and res.json["status"] == "bound"
        and res.json["verified_by"] == "phone"
    )
    mini.run_jobs()
    assert outbox(mini_app) == []
    add_diploma(mini_app, "2017020118")
    assert mini.get("/diploma").json["state"] == "record"


def test_a_proven_phone_that_is_not_the_registrars_still_needs_the_code(
    mini, mini_app, mini_demo, stubs
):
    _, _, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-phone-2")
    stubs["wxa"].phone_codes["pc-2"] = "13911112222"
    assert mini.post("/session/phone", {"code": "pc-2"}).json["phone_masked"] == "139****2222"
    res = mini.post("/binding", {"name": "李小红", "id_number": id_number, "consent": True})
    assert res.status_code == 202 and res.json["status"] == "code_sent"
    assert _count(mini_app, Binding) == 0
    assert mini.post("/code/verify", {"code": _sms_code(mini, phone)}).json["verified_by"] == "sms"


def test_alipay_phone_is_verified_then_decrypted(mini, mini_app, mini_demo, keys):
    _, _, id_number, phone, _ = mini_demo["张三"]
    mini.login("alipay", "2088000000000020")
    forged = encrypted_phone(
        keys["app"], keys["aes"], phone
    )  # signed with a key that is not Alipay's
    res = mini.post("/session/phone", {"response": forged})
    assert res.status_code == 422 and res.json["error"]["code"] == "phone_not_proven"
    res = mini.post(
        "/session/phone", {"response": encrypted_phone(keys["gateway"], keys["aes"], phone)}
    )
    assert res.status_code == 200 and res.json["phone_masked"] == "138****0001"
    res = mini.post(
        "/binding",
        {"name": "张三", "id_number": id_number, "student_no": "2016010203", "consent": True},
    )
    assert res.json["verified_by"] == "phone"


# -- chat, errors, limits --------------------------------------------------------------------------
def test_chat_runs_the_same_flows_with_buttons_and_dedup(mini, mini_app):
    mini.login("alipay", "2088000000000030")
    res = mini.post("/chat", {"text": "1"}, headers={"Idempotency-Key": "m-1"})
    assert res.status_code == 200 and res.json["status"] == "done"
    [reply] = res.json["replies"]
    assert "个人信息告知" in reply["text"] and reply["buttons"] == ["1", "0"]
    again = mini.post("/chat", {"text": "1"}, headers={"Idempotency-Key": "m-1"})
    assert again.json == res.json
    assert mini.get(f"/chat/{res.json['msg_id']}").json["replies"] == res.json["replies"]
    assert (
        "请发送你的姓名"
        in mini.post("/chat", {"text": "同意", "client_msg_id": "m-2"}).json["replies"][0]["text"]
    )
    assert mini.get("/chat/c:unknown").status_code == 404


def test_delete_my_data_ends_every_session_of_that_user_only(mini, mini_app, mini_demo, stubs):
    _, _, id_number, phone, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-leaving")
    other_device = MiniClient(mini_app, stubs)
    other_device.login("wxa", "o-wxa-leaving")
    someone_else = MiniClient(mini_app, stubs)
    someone_else.login("wxa", "o-wxa-staying")
    stubs["wxa"].phone_codes["pc-del"] = phone
    assert mini.post("/session/phone", {"code": "pc-del"}).status_code == 200
    assert (
        mini.post("/binding", {"name": "李小红", "id_number": id_number, "consent": True}).json[
            "status"
        ]
        == "bound"
    )

    rt = mini_app.extensions["gradcert"]
    index = "gc:{wxa:*:o-wxa-leaving}:mini:sessions"
    assert len(rt.redis.smembers(rt.redis.keys(index)[0])) == 2

    res = mini.delete("/me")
    assert res.status_code == 200 and res.json == {"status": "deleted"}
    for client in (mini, other_device):
        assert client.get("/session").status_code == 401
    assert someone_else.get("/session").status_code == 200
    assert rt.redis.keys(index) == []
    with rt.sessions() as db:
        audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "delete_personal_data"))
        account = db.get(Account, audit.actor_account_id)
        assert account.user_key.startswith("erased-")  # the openid itself is gone
        binding = db.scalar(select(Binding).where(Binding.account_id == account.id))
        assert binding is None  # nothing links the pseudonymised account to the graduate
        assert (
            db.scalar(
                select(func.count())
                .select_from(Consent)
                .where(Consent.account_id == account.id, Consent.withdrawn_at.is_(None))
            )
            == 0
        )
        assert audit.detail.startswith("via wxa: 1 accounts")
    mini.login("wxa", "o-wxa-leaving")
    assert (
        mini.get("/binding").json["bound"] is False
        and mini.get("/binding").json["consented"] is False
    )


def test_delete_my_data_in_the_chat_logs_the_mini_program_out(mini):
    mini.login("alipay", "2088000000000031")
    assert (
        "个人信息告知"
        in mini.post("/chat", {"text": "1", "client_msg_id": "before-1"}).json["replies"][0]["text"]
    )
    mini.post("/chat", {"text": "0"})
    assert "确定删除" in mini.post("/chat", {"text": "删除我的信息"}).json["replies"][0]["text"]
    assert "小程序需要重新登录" in mini.post("/chat", {"text": "1"}).json["replies"][0]["text"]
    assert mini.get("/session").status_code == 401
    mini.login("alipay", "2088000000000031")
    assert mini.get("/chat/c:before-1").status_code == 404  # cached replies went with the rest


def test_deleting_my_data_does_not_reset_the_limit_on_guessing_identities(mini, mini_demo):
    mini.login("wxa", "o-wxa-guesser")
    wrong = {"name": "张三", "id_number": "11010519991231105X", "consent": True}  # 李小红's number
    for _ in range(5):
        assert mini.post("/binding", wrong).status_code == 422
    assert mini.post("/binding", wrong).json["error"]["code"] == "too_many_mismatches"
    assert mini.delete("/me").status_code == 200
    mini.login("wxa", "o-wxa-guesser")
    assert mini.post("/binding", wrong).json["error"]["code"] == "too_many_mismatches"


def test_an_appeal_is_filed_even_when_the_photo_store_is_down(mini, mini_app, mini_demo):
    from bot.platform.attachment_store import S3Store

    mini_app.extensions["gradcert"].domain.attachments = S3Store(
        "http://127.0.0.1:9", "b", "AKID", "k", "r"
    )
    _, _, id_number, _, _ = mini_demo["张三"]
    mini.login("wxa", "o-wxa-store-down")
    res = mini.post(
        "/appeals",
        data={
            "category": "migration_loss",
            "description": "毕业证书查不到，早年的数据",
            "name": "张三",
            "id_number": id_number,
            "contact_phone": "13900002222",
            "photos": [(io.BytesIO(PNG_BYTES), "d.png")],
        },
        json=None,
        content_type="multipart/form-data",
    )
    assert res.status_code == 201, res.json
    assert res.json["photos"] == [{"id": res.json["photos"][0]["id"], "state": "rejected"}]
    with mini_app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(Attachment)).error == "storage failed"


def test_mismatch_is_refused_without_saying_which_field(mini, mini_demo):
    _, _, id_number, _, _ = mini_demo["李小红"]
    mini.login("wxa", "o-wxa-mismatch")
    res = mini.post("/binding", {"name": "李小虹", "id_number": id_number, "consent": True})
    assert res.status_code == 422 and res.json["error"]["code"] == "identity_mismatch"
    res = mini.post(
        "/binding", {"name": "李小红", "id_number": "110105199912311051", "consent": True}
    )
    assert res.status_code == 422 and res.json["error"]["problem"] == "checksum"
    assert (
        mini.post("/binding", {"name": "李小红", "id_number": id_number}).json["error"]["code"]
        == "consent_required"
    )
    for _ in range(4):
        mini.post("/binding", {"name": "李小虹", "id_number": id_number, "consent": True})
    res = mini.post("/binding", {"name": "李小红", "id_number": id_number, "consent": True})
    assert res.status_code == 429 and res.json["error"]["code"] == "too_many_mismatches"
    assert int(res.headers["Retry-After"]) > 0


def test_reveal_and_send_endpoints_are_rate_limited(mini, mini_app):
    mini.login("wxa", "o-wxa-limits")
    for i in range(10):
        assert mini.post("/session/phone", {"code": f"none-{i}"}).status_code == 422
    res = mini.post("/session/phone", {"code": "none-x"})
    assert (
        res.status_code == 429
        and res.json["error"]["code"] == "rate_limited"
        and res.headers["Retry-After"]
    )
    statuses = {
        mini.client.post("/api/v1/session", json={"channel": "wxa", "code": "x"}).status_code
        for _ in range(31)
    }
    assert statuses == {401, 429}


def test_errors_are_json_with_a_stable_code(mini):
    assert mini.client.get("/api/v1/diploma").json["error"]["code"] == "unauthorized"
    assert mini.client.get("/api/v1/nothing-here").json["error"]["code"] == "not_found"
    assert mini.client.put("/api/v1/binding").json["error"]["code"] == "method_not_allowed"
    mini.login("wxa", "o-wxa-errors")
    assert mini.get("/diploma").json["error"]["code"] == "not_bound"
    assert mini.post("/code").json["error"]["code"] == "nothing_to_verify"
    assert (
        mini.post("/binding", data="x" * 70000, content_type="application/json").status_code == 413
    )
    assert mini.get("/certificates/ABC").status_code == 403  # not bound comes first
