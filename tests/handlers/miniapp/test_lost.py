"""Lost certificates through /api/v1: the terms (what it needs and costs), filing one with photos
(post: the address sealed and masked in the answer), the ticket read like an appeal, and the
refusals the chat gives for the same decisions (bot/lost/rules.py)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from bot.core.replies import ReplyBook
from models import Account, Appeal, Binding, LostCertificate, Student, utcnow
from tests.miniapp_support import said_in
from tests.stubs import PNG_BYTES

BOOK = ReplyBook()
ADDRESS = "四川省成都市武侯区人民南路四段9号 张三收"


def _bind(app, user_key: str, student_no: str = "2016010203") -> None:
    with app.extensions["gradcert"].sessions() as db:
        account = db.scalar(select(Account).where(Account.user_key == user_key))
        student = db.scalar(select(Student).where(Student.student_no == student_no))
        db.add(
            Binding(
                account_id=account.id,
                student_id=student.id,
                channel=account.channel,
                verified_at=utcnow(),
            )
        )
        db.commit()


@pytest.fixture
def graduate(mini, mini_app, mini_demo):
    mini.login("wxa", "o-wxa-lost")
    _bind(mini_app, "o-wxa-lost")
    return mini


def _file(mini, key: str = "lost-1", **fields):
    data = {"delivery": "post", "address": ADDRESS, **fields}
    data.setdefault("photos", [(io.BytesIO(PNG_BYTES), "id.png")])
    return mini.post(
        "/lost-certificates",
        data=data,
        json=None,
        headers={"Idempotency-Key": key},
        content_type="multipart/form-data",
    )


def test_the_terms_say_what_it_needs_and_costs(mini, make_app, stubs):
    terms = mini.client.get("/api/v1/lost-certificates/terms").json
    assert "遗失声明" in terms["needs"] and terms["fee_yuan"] == 0 and terms["fee_text"] is None
    assert [d["key"] for d in terms["deliveries"]] == ["pickup", "post"]
    paid = make_app(GRADCERT_LOST_CERTIFICATE_FEE=30).test_client()
    terms = paid.get("/api/v1/lost-certificates/terms").json
    assert (
        terms["fee_yuan"] == 30
        and "费用30元" in terms["fee_text"]
        and "现场缴纳" in terms["fee_text"]
    )


def test_a_request_is_filed_with_photos_and_the_address_sealed(graduate, mini_app):
    deadline = "2099-12-20"
    res = _file(graduate, urgent_deadline=deadline, purpose="出国留学", email="Zs@Example.com")
    assert res.status_code == 201, res.json
    body = res.json
    assert body["ticket_no"].startswith("GL") and body["category"] == "lost_certificate"
    assert body["urgent"] and body["urgent_deadline"] == deadline
    assert body["photos"][0]["state"] == "stored"
    assert body["lost"] == {
        "delivery": "post",
        "delivery_label": "邮寄",
        "address": "四川省成都市****",
        "fee_yuan": 0,
    }
    shown = graduate.get(f"/appeals/{body['ticket_no']}").json
    assert shown["lost"]["delivery"] == "post" and "人民南路" not in str(shown)
    rt = mini_app.extensions["gradcert"]
    with rt.sessions() as db:
        assert len(db.scalars(select(Appeal)).all()) == 1
        ticket, lost = db.scalar(select(Appeal)), db.scalar(select(LostCertificate))
        assert lost.purpose == "出国留学" and "人民南路".encode() not in lost.address_enc
        assert rt.domain.cipher.open(ticket.contact_email_enc, 1, b"email") == "zs@example.com"


def test_pickup_needs_no_address(graduate):
    res = _file(graduate, key="lost-2", delivery="pickup", address="")
    assert res.status_code == 201 and res.json["lost"]["address"] == "—"


def _refused(res, status: int, code: str) -> str:
    assert res.status_code == status and res.json["error"]["code"] == code, res.json
    return res.json["error"]["message"]


def test_the_refusals_say_what_the_chat_says(graduate, mini, mini_app):
    message = _refused(_file(graduate, key="a", address=""), 400, "address_required")
    assert said_in(message, BOOK.render("lost/ask_address"))
    message = _refused(_file(graduate, key="b", address="成都"), 400, "bad_address")
    assert said_in(message, BOOK.render("lost/bad_address"))
    message = _refused(_file(graduate, key="c", photos=[]), 422, "photos_required")
    assert "遗失声明" in message
    assert _refused(_file(graduate, key="d", delivery="drone"), 400, "bad_field")
    assert _refused(_file(graduate, key="e", email="not-mail"), 400, "bad_field")
    past = _refused(_file(graduate, key="f", urgent_deadline="2001-01-01"), 422, "deadline_passed")
    assert "已经过了" in past
    mini.login("wxa", "o-wxa-unbound")
    message = _refused(_file(mini, key="g"), 403, "not_bound")
    assert "请先绑定身份" in message and "回复" not in message
