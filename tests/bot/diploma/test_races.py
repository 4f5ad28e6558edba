"""The diploma flow when something changes between two messages of the user: the registrar revokes
the diploma, the certificate is revoked or closed elsewhere (mini-program, another device)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.diploma import certificates
from models import Certificate, Diploma, LedgerEntry, as_utc
from tests.bot.diploma.test_script import _diploma, bound  # noqa: F401 - `bound` is a fixture

pytestmark = pytest.mark.usefixtures("bound")  # 李小红 bound on account "g1"


def _events(app) -> list[str]:
    with app.extensions["gradcert"].sessions() as db:
        return [e.event for e in db.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))]


def _certificate(app) -> Certificate:
    with app.extensions["gradcert"].sessions() as db:
        return db.scalar(select(Certificate))


def _issue_and_manage(app, chat) -> None:
    """Issue a certificate in the chat, then open it from 我的电子证明 (the manage step)."""
    _diploma(app, "2017020118")
    chat.say("g1", "2")
    chat.say("g1", "1")
    assert "电子证明已开具" in chat.say("g1", "90")
    chat.say("g1", "2")
    assert "你的电子证明" in chat.say("g1", "2")
    assert "回复2延长有效期" in chat.say("g1", "1")


def test_a_diploma_revoked_while_the_days_are_asked_gets_no_certificate(app, chat):
    _diploma(app, "2017020118")
    chat.say("g1", "2")
    assert "30到180" in chat.say("g1", "1")
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:  # the registrar's import revokes the diploma
        db.scalar(select(Diploma)).status = "revoked"
        db.commit()
    reply = chat.say("g1", "90")
    assert "已被学校撤销" in reply and "139321202105001234" in reply
    with rt.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Certificate)) == 0
    assert _events(app) == []
    assert "1 绑定身份" in chat.say("g1", "0")  # back at the menu, not stuck in the days step


def test_extending_a_certificate_revoked_meanwhile_is_refused(app, chat):
    _issue_and_manage(app, chat)
    assert "30到180" in chat.say("g1", "2")
    before = _certificate(app)
    with app.extensions["gradcert"].sessions() as db:
        certificates.revoke(db, db.scalar(select(Certificate)), "diploma revoked")
        db.commit()
    reply = chat.say("g1", "120")
    assert "已关闭或已撤销" in reply and before.code in reply
    assert _events(app) == ["issued", "revoked"]
    assert as_utc(_certificate(app).valid_until) == as_utc(before.valid_until)


def test_closing_a_certificate_closed_meanwhile_is_refused(app, chat):
    _issue_and_manage(app, chat)
    assert "确定关闭" in chat.say("g1", "3")
    with app.extensions["gradcert"].sessions() as db:  # closed from the mini-program meanwhile
        certificates.close(db, db.scalar(select(Certificate)))
        db.commit()
    assert "已关闭或已撤销" in chat.say("g1", "1")
    assert _events(app) == ["issued", "closed"]


def test_the_service_refuses_to_change_a_final_certificate(app, chat):
    _issue_and_manage(app, chat)
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate))
        certificates.close(db, cert)
        with pytest.raises(certificates.CertificateFinal):
            certificates.close(db, cert)
        with pytest.raises(certificates.CertificateFinal):
            certificates.extend(
                db,
                rt.domain.keyring,
                cert,
                60,
                rt.domain.school,
                as_utc(cert.issued_at) + timedelta(days=1),
            )
        db.commit()
    assert _events(app) == ["issued", "closed"]
