"""A whole run, then 删除我的信息 (issue 12): a graduate bound on the Official Account and on the
mini-program files a ticket whose description holds an ID number and a phone, another with a
photo, issues a certificate; a parent asks to act for them. Afterwards every SQL table, every Redis
key and value (RQ job data inflated) and the captured logs hold no ID number or phone in clear.
Deleting on one channel deletes the person on both, and what is left of them is what the reply
says stays: the audit trail with a pseudonymous subject, the certificate's stub and ledger, the
registrar's record."""

from __future__ import annotations

import io
import logging
import zlib
from pathlib import Path

from sqlalchemy import select, text

from models import (
    Account,
    Appeal,
    AppealEvent,
    Attachment,
    AuditEvent,
    Base,
    Binding,
    Certificate,
    Consent,
    OtpEvent,
    Proxy,
    Student,
)
from tests.conftest import Chat, outbox
from tests.handlers.miniapp.test_api import _sms_code
from tests.miniapp_support import add_diploma
from tests.stubs import PNG_BYTES

TYPED_ID, TYPED_PHONE = "440306199001011236", "13912345678"


def _sql_dump(app) -> str:
    rt = app.extensions["gradcert"]
    lines = []
    with rt.sessions() as db:
        for table in Base.metadata.sorted_tables:
            for row in db.execute(text(f"SELECT * FROM {table.name}")):
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


def _redis_dump(app) -> bytes:
    redis = app.extensions["gradcert"].redis
    out = []
    for key in redis.keys("*"):
        out.append(key)
        kind = redis.type(key)
        values = []
        if kind == b"string":
            values = [redis.get(key)]
        elif kind == b"hash":
            values = [v for pair in redis.hgetall(key).items() for v in pair]
        elif kind in (b"list",):
            values = redis.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(redis.smembers(key))
        elif kind == b"zset":
            values = redis.zrange(key, 0, -1)
        for value in values:
            out.append(value)
            try:
                out.append(zlib.decompress(value))  # RQ's job data
            except zlib.error:
                pass
    return b"\n".join(out)


def _clean(haystack: str | bytes, *secrets: str) -> list[str]:
    """The secrets found in clear (also without separators, upper or lower x)."""
    if isinstance(haystack, bytes):
        haystack = haystack.decode("utf-8", "replace")
    flat = haystack.replace(" ", "").replace("-", "").upper()
    return [s for s in secrets if s.upper() in flat]


def test_a_whole_run_then_deletion_on_both_channels(mini_app, mini, mini_demo, stubs, caplog):
    caplog.set_level(logging.DEBUG)
    app = mini_app
    _, name, id_number, phone, _ = mini_demo["李小红"]
    secrets = (id_number, phone, TYPED_ID, TYPED_PHONE)
    chat = Chat(app)
    add_diploma(app, "2017020118")

    # bound on the Official Account...
    chat.say("grad-oa", "1")
    chat.say("grad-oa", "1")
    chat.say("grad-oa", f"{name} {id_number} 2017020118")
    chat.run_jobs()
    assert "绑定成功" in chat.say(
        "grad-oa", [m for m in outbox(app) if m["phone"] == phone][-1]["code"]
    )
    # ... a ticket with an ID number and a phone in its description
    chat.say("grad-oa", "3")
    chat.say("grad-oa", "9")
    chat.say("grad-oa", f"我的身份证号是{TYPED_ID}，电话{TYPED_PHONE}，证书上的专业不对")
    chat.say("grad-oa", "1")  # not urgent
    assert "138****0002" in chat.say("grad-oa", "完成")  # no photos; the phone on file?
    confirm = chat.say("grad-oa", "1")
    assert "请确认" in confirm and "4403**********" in confirm and "139****5678" in confirm
    filed = chat.say("grad-oa", "1")
    assert "已提交" in filed and TYPED_PHONE not in filed

    # ... and on the mini-program: bound, a certificate, a ticket with a photo
    redis = app.extensions["gradcert"].redis
    redis.delete(*redis.keys("gc:{phone:*:60"))  # a minute later
    mini.login("wxa", "grad-mini")
    assert (
        mini.post("/binding", {"name": name, "id_number": id_number, "consent": True}).status_code
        == 202
    )
    assert mini.post("/code/verify", {"code": _sms_code(mini, phone)}).json["status"] == "bound"
    code = mini.post("/certificates", {"days": 60}).json["code"]
    res = mini.post(
        "/appeals",
        data={
            "category": "migration_loss",
            "description": f"查不到，联系我 {TYPED_PHONE[:3]} {TYPED_PHONE[3:7]} {TYPED_PHONE[7:]}",
            "photos": [(io.BytesIO(PNG_BYTES), "d.png")],
        },
        json=None,
        content_type="multipart/form-data",
    )
    assert res.status_code == 201, res.json

    # a parent asks to act for them (the graduate answers in their own chat)
    chat.say("mom", "5")
    chat.say("mom", "1")
    chat.say("mom", "1")
    chat.say("mom", f"{name} {id_number}")
    chat.say("mom", "1")
    assert "已发消息给毕业生" in chat.say("mom", "2")
    chat.run_jobs()
    mini.run_jobs()

    # before deletion: personal data only sealed or masked
    assert _clean(_sql_dump(app), *secrets) == []
    assert _clean(_redis_dump(app), *secrets) == []
    with app.extensions["gradcert"].sessions() as db:
        stored = {a.storage_key for a in db.scalars(select(Attachment)) if a.storage_key}
    assert stored

    # 删除我的信息 on the Official Account: both channels go
    assert "公众号、小程序" in chat.say("grad-oa", "删除我的信息")
    done = chat.say("grad-oa", "1")
    assert "另外1个账号也一并删除" in done and "2个异议工单已关闭" in done
    assert "1份电子证书已关闭" in done and "只保留操作日志" in done
    chat.run_jobs()
    assert mini.get("/session").status_code == 401  # the mini-program session ended too

    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        student = db.scalar(select(Student).where(Student.student_no == "2017020118"))
        accounts = db.scalars(select(Account)).all()
        erased = [a for a in accounts if a.user_key.startswith("erased-")]
        assert len(erased) == 2 and {a.channel for a in erased} == {"wx", "wxa"}
        assert {a.user_key for a in accounts} & {"grad-oa", "grad-mini"} == set()
        assert db.scalars(select(Binding)).all() == []
        assert all(
            c.withdrawn_at
            for c in db.scalars(select(Consent))
            if c.account_id in {a.id for a in erased}
        )
        assert (
            db.scalars(
                select(OtpEvent).where(OtpEvent.account_id.in_([a.id for a in erased]))
            ).all()
            == []
        )
        [proxy] = db.scalars(select(Proxy)).all()
        assert proxy.state == "revoked" and proxy.revoked_by == "graduate"
        appeals = db.scalars(select(Appeal)).all()
        assert len(appeals) == 2 and all(
            a.status == "closed"
            and a.description == "（已删除）"
            and a.student_id is None
            and a.claimed_id_enc is None
            and a.contact_phone_enc is None
            for a in appeals
        )
        assert all(
            e.note in (None, "（已删除）") or "申请人删除了个人信息" in e.note
            for e in db.scalars(select(AppealEvent))
        )
        assert db.scalars(select(Attachment)).all() == []
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        assert cert.closed_at is not None
        audits = db.scalars(select(AuditEvent)).all()
        assert not [a for a in audits if a.subject_student_id == student.id]
        assert any(a.subject_pseudonym for a in audits)
    base = Path(app.config["GRADCERT_ATTACHMENT_DIR"])
    assert not [k for k in stored if (base / k).exists()]  # the photo files are gone too
    # the parent is told the proxy ended
    pushed = [
        r.json()["text"]["content"]
        for r in stubs["wxa"].calls("/cgi-bin/message/custom/send")
        if r.json()["touser"] == "mom"
    ]
    assert any("结束" in t or "撤销" in t for t in pushed), pushed

    # after deletion: still nothing in clear anywhere, and no openid of the person in SQL
    dump = _sql_dump(app)
    assert _clean(dump, *secrets) == []
    assert "grad-oa" not in dump and "grad-mini" not in dump
    assert _clean(_redis_dump(app), *secrets) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert _clean(logged, *secrets) == []
