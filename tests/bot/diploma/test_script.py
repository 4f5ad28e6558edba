"""Diploma lookup and e-certificates through the real WeChat callback, the PDF, the ledger."""

import io
import re
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from bot.diploma import certificates, ledger
from models import Binding, Certificate, LedgerEntry
from tests.conftest import outbox
from tests.miniapp_support import add_diploma


def _code(chat, phone):
    chat.run_jobs()
    return [m for m in outbox(chat.app) if m["phone"] == phone][-1]["code"]


_diploma = add_diploma  # a registered diploma for a demo student (tests/miniapp_support.py)


@pytest.fixture
def bound(app, chat, demo):
    """李小红 bound on account 'g1' (code checked just now)."""
    _, _, id_number, phone, _ = demo["李小红"]
    chat.say("g1", "1")
    chat.say("g1", "1")
    chat.say("g1", f"李小红 {id_number} 2017020118")
    assert "绑定成功" in chat.say("g1", _code(chat, phone))
    return phone


def _skip_send_limits(app):
    redis = app.extensions["gradcert"].redis
    keys = redis.keys("gc:{phone:*") + redis.keys("gc:*:otp:cool")
    if keys:
        redis.delete(*keys)


def _clock(app, moment):
    app.extensions["gradcert"].domain.clock = lambda: moment


def test_lookup_after_binding_shows_the_record(app, chat, bound):
    _diploma(app, "2017020118")
    reply = chat.say("g1", "2")
    for part in (
        "139321202105001234",
        "专科",
        "计算机应用技术",
        "全日制",
        "2018-09-01",
        "2021-06-30",
        "示范职业技术学院",
    ):
        assert part in reply
    assert "李**" in reply


def test_a_stale_code_check_asks_for_a_new_code(app, chat, bound):
    _diploma(app, "2017020118")
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        binding = db.scalar(select(Binding))
        binding.verified_at = datetime.now(timezone.utc) - timedelta(minutes=11)
        db.commit()
    _skip_send_limits(app)
    reply = chat.say("g1", "2")
    assert "再验证一次" in reply and "139321202105001234" not in reply
    assert "139321202105001234" in chat.say("g1", _code(chat, bound))


@pytest.mark.parametrize(
    "source, leave, today, expected, template",
    [
        # the main campus syncs in real time: a record missing after leaving is a registrar problem
        ("main", date(2026, 9, 30), date(2026, 10, 1), "2026-09-30", "学籍登记有问题，不用再等"),
        ("main", date(2026, 11, 20), date(2026, 11, 20), "2026-11-20", "不用再等"),
        # a campus record: 3 working days after leaving, across National Day and its 调休 Saturday
        ("gy", date(2026, 9, 30), date(2026, 10, 1), "2026-10-10", "离校后3个工作日可以查询"),
        ("gy", date(2026, 9, 28), date(2026, 9, 29), "2026-10-08", "预计 2026-10-08"),
        ("gy", date(2026, 11, 20), date(2026, 11, 30), "2026-11-25", "应在 2026-11-25 前"),
        ("main", date(2026, 12, 10), date(2026, 11, 30), "2026-12-10", "离校当天就可以查到"),
        ("gy", date(2026, 12, 10), date(2026, 11, 30), "2026-12-15", "离校日期是 2026-12-10"),
    ],
)
def test_not_synced_yet_tells_the_date(app, chat, bound, source, leave, today, expected, template):
    _diploma(app, "2017020118", certificate_no=None, leave_date=leave, source=source, campus=source)
    _clock(app, datetime(today.year, today.month, today.day, 2, tzinfo=timezone.utc))
    _skip_send_limits(app)
    reply = chat.say("g1", "2")
    if "再验证一次" in reply:  # the moved clock made the check stale
        reply = chat.say("g1", _code(chat, bound))
    assert template in reply and expected in reply


def test_campus_codes_are_never_shown_raw_and_peak_season_is_told(app, chat, bound):
    _diploma(app, "2017020118", certificate_no=None, leave_date=date(2026, 6, 30), source="gy")
    _clock(app, datetime(2026, 7, 1, 2, tzinfo=timezone.utc))
    _skip_send_limits(app)
    reply = chat.say("g1", "2")
    if "再验证一次" in reply:
        reply = chat.say("g1", _code(chat, bound))
    assert "分校区的记录" in reply and "gy" not in reply and "查询高峰期，建议错峰" in reply


def test_revoked_diploma_says_so_and_where_to_ask(app, chat, bound):
    _diploma(app, "2017020118", status="revoked")
    reply = chat.say("g1", "2")
    assert "已被学校撤销" in reply and "行政楼A203" in reply


def test_no_record_offers_an_appeal(app, chat, bound):
    assert "异议" in chat.say("g1", "2")


def _issue(chat, days="90"):
    chat.say("g1", "2")
    assert "30到180" in chat.say("g1", "1")
    assert "30到180" in chat.say("g1", "200")
    res = chat.post(*chat.sim.text("g1", f"{days}天"))
    fields = chat.sim.read(res.data)
    assert fields["MsgType"] == "news"
    text = chat.sim.reply_text(res.data)
    url = text.splitlines()[-1]
    code = re.search(r"验证码 ([0-9A-Z]{16})", text).group(1)
    return code, url


def test_certificate_pdf_has_the_code_and_a_qr_code_to_the_verification_page(app, chat, bound):
    import zxingcpp

    _diploma(app, "2017020118")
    code, url = _issue(chat)
    assert all(ch in certificates.ALPHABET for ch in code)
    chat.run_jobs()  # the RQ job renders the PDF ahead of the download
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(Certificate)).pdf_ready_at is not None
    parts = urlsplit(url)
    res = app.test_client().get(parts.path + "?" + parts.query)
    assert res.status_code == 200 and res.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(res.data))
    assert code in reader.pages[0].extract_text()
    [image] = reader.pages[0].images
    from PIL import Image

    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)))]
    assert decoded == [f"https://verify.example.edu.cn/v/{code}"]
    assert (
        app.test_client().get(parts.path + "?" + parts.query.replace("s=", "s=0")).status_code
        == 403
    )
    assert app.test_client().get(parts.path).status_code == 403


def test_list_extend_and_close_from_the_chat(app, chat, bound):
    _diploma(app, "2017020118")
    code, url = _issue(chat, "30")
    chat.say("g1", "2")
    listing = chat.say("g1", "2")
    assert code[:4] in listing and "有效" in listing
    assert "延长" in chat.say("g1", "1")
    chat.say("g1", "2")
    assert "现在有效至" in chat.sim.reply_text(chat.post(*chat.sim.text("g1", "180")).data)
    chat.say("g1", "2")
    chat.say("g1", "2")
    chat.say("g1", "1")
    assert "确定关闭" in chat.say("g1", "3")
    assert "已关闭" in chat.say("g1", "1")
    parts = urlsplit(url)
    assert app.test_client().get(parts.path + "?" + parts.query).status_code == 410
    with app.extensions["gradcert"].sessions() as db:
        assert [e.event for e in db.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))] == [
            "issued",
            "extended",
            "closed",
        ]
        assert ledger.verify(db, certificates.checked_digest) is None


def _ledger_cli(app, *args):
    from handlers.cli import ledger_group

    with app.app_context():
        return CliRunner().invoke(ledger_group, list(args))


def test_tampering_is_detected_by_ledger_verify_and_the_signature(app, chat, bound):
    _diploma(app, "2017020118")
    for _ in range(3):
        _issue(chat)
    rt = app.extensions["gradcert"]
    assert "intact: 3 entries" in _ledger_cli(app, "verify").output
    assert "head=" in _ledger_cli(app, "export").output
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate).order_by(Certificate.id))
        assert certificates.is_genuine(db, cert, rt.domain.keyring)
        cert.content = cert.content.replace("计算机应用技术", "临床医学")
        db.commit()
        assert not certificates.is_genuine(db, cert, rt.domain.keyring)
    result = _ledger_cli(app, "verify")
    assert result.exit_code == 1 and "BROKEN at entry 1" in result.output
    with rt.sessions() as db:  # undo, then move a validity date instead
        cert = db.scalar(select(Certificate).order_by(Certificate.id))
        cert.content = cert.content.replace("临床医学", "计算机应用技术")
        cert.valid_until = cert.valid_until + timedelta(days=365)
        db.commit()
    assert "BROKEN" in _ledger_cli(app, "verify").output
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate).order_by(Certificate.id))
        cert.valid_until = cert.valid_until - timedelta(days=365)
        entry = db.get(LedgerEntry, 2)
        entry.event = "revoked"
        db.commit()
    result = _ledger_cli(app, "verify")
    assert "BROKEN at entry 2" in result.output


def test_verify_file_offline(app, chat, bound, tmp_path):
    from handlers.cli import verify_file

    _diploma(app, "2017020118")
    _, url = _issue(chat)
    parts = urlsplit(url)
    pdf = tmp_path / "c.pdf"
    pdf.write_bytes(app.test_client().get(parts.path + "?" + parts.query).data)
    with app.app_context():
        ok = CliRunner().invoke(verify_file, [str(pdf)])
    assert ok.exit_code == 0 and "VERIFIED" in ok.output
    public = app.extensions["gradcert"].domain.signer.public_hex
    forged = pdf.read_bytes().replace(b"gradcert-certificate:", b"gradcert-certificate:")
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(forged))
    writer = PdfWriter()
    writer.append(reader)
    import base64
    import json

    from bot.diploma.pdf import META_PREFIX, embedded

    carried = embedded(pdf.read_bytes())
    carried["content"] = carried["content"].replace("专科", "本科")
    writer.add_metadata(
        {"/Subject": META_PREFIX + base64.b64encode(json.dumps(carried).encode()).decode()}
    )
    bad = tmp_path / "bad.pdf"
    with bad.open("wb") as f:
        writer.write(f)
    result = CliRunner().invoke(verify_file, [str(bad), "--public-key", public])
    assert result.exit_code == 1 and "NOT VERIFIED" in result.output


def test_an_account_that_lost_its_binding_cannot_go_on(app, chat, bound, demo):
    """Review finding: the certificate steps trusted the student id kept in the conversation."""
    _diploma(app, "2017020118")
    chat.say("g1", "2")  # at the diploma menu
    _skip_send_limits(app)
    _, _, id_number, phone, _ = demo["李小红"]
    chat.say("g2", "1")
    chat.say("g2", "1")
    chat.say("g2", f"李小红 {id_number} 2017020118")
    assert "绑定成功" in chat.say("g2", _code(chat, phone))  # bound elsewhere now
    reply = chat.say("g1", "1")
    assert "不再和你的微信绑定" in reply
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(Certificate)) is None


def test_revoking_a_diploma_in_the_registrar_import_revokes_its_certificates(
    app, chat, bound, tmp_path
):
    """Review finding: e-certificates stayed valid after the registrar revoked the diploma."""
    from bot.platform.registrar import import_file

    _diploma(app, "2017020118")
    code, url = _issue(chat)
    csv = tmp_path / "revoke.csv"
    csv.write_text(
        "student_no,name,id_number,phone,campus,level,major,study_mode,enrol_date,grad_date,leave_date,"
        "certificate_no,status,updated_at,source\n"
        "2017020118,李小红,11010519991231105X,13800000002,main,专科,计算机应用技术,全日制,2018-09-01,2021-06-30,"
        "2021-07-01,139321202105001234,revoked,2030-01-01 00:00:00,main\n",
        encoding="utf-8",
    )
    rt = app.extensions["gradcert"]
    report = import_file(rt.sessions, rt.domain.cipher, csv)
    assert report.certificates_revoked == 1
    assert app.test_client().get(f"/v/{code}.json").get_json()["status"] == "revoked"
    parts = urlsplit(url)
    assert app.test_client().get(parts.path + "?" + parts.query).status_code == 410
    with rt.sessions() as db:
        assert ledger.verify(db, certificates.checked_digest) is None
        assert db.scalars(select(LedgerEntry.event).order_by(LedgerEntry.seq)).all() == [
            "issued",
            "revoked",
        ]


def test_non_ascii_download_signature_is_refused(app):
    assert app.test_client().get("/c/ABCDEFGHJKLMNPQR.pdf?e=9999999999&s=签名").status_code == 403


def test_a_state_write_lost_after_issuing_never_issues_twice(app, chat, bound, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    _diploma(app, "2017020118")
    chat.say("g1", "2")
    chat.say("g1", "1")
    storage = app.extensions["gradcert"].storage
    real_commit, failures = storage.commit, [1]

    def flaky(*args, **kwargs):
        if failures:
            failures.pop()
            raise RedisConnectionError("redis went away")
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(storage, "commit", flaky)
    first = chat.sim.reply_text(chat.post(*chat.sim.text("g1", "90")).data)
    again = chat.sim.reply_text(
        chat.post(*chat.sim.text("g1", "90")).data
    )  # still at the days step
    code = re.search(r"验证码 ([0-9A-Z]{16})", first).group(1)
    assert code in again
    with app.extensions["gradcert"].sessions() as db:
        assert len(db.scalars(select(Certificate)).all()) == 1


def test_ledger_verify_finds_an_unrevoked_row_and_a_cut_off_tail(app, chat, bound):
    _diploma(app, "2017020118")
    _issue(chat)
    _issue(chat)
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        first = db.scalar(select(Certificate).order_by(Certificate.id))
        certificates.revoke(db, first, "test")
        db.commit()
    exported = _ledger_cli(app, "export").output
    seq, head = re.search(r"seq=(\d+) head=([0-9a-f]{64})", exported).groups()
    assert "intact: 3 entries" in _ledger_cli(app, "verify", "--head", f"{seq}:{head}").output

    with rt.sessions() as db:  # someone deletes the revocation, and un-revokes the row
        db.delete(db.scalar(select(LedgerEntry).where(LedgerEntry.seq == int(seq))))
        db.scalar(select(Certificate).order_by(Certificate.id)).revoked_at = None
        db.commit()
    assert (
        _ledger_cli(app, "verify").exit_code == 0
    )  # a clean cut is invisible without a published head
    result = _ledger_cli(app, "verify", "--head", f"{seq}:{head}")
    assert (
        result.exit_code == 1
        and f"entries up to the published head {seq} are missing" in result.output
    )

    with rt.sessions() as db:  # the row alone un-revoked, the chain whole
        entry = db.scalar(select(Certificate).order_by(Certificate.id))
        certificates.revoke(db, entry, "again")
        entry.revoked_at = None
        db.commit()
    result = _ledger_cli(app, "verify")
    assert result.exit_code == 1 and "is not in the state its events say" in result.output
    assert _ledger_cli(app, "verify", "--head", "x:y").exit_code == 2


def test_an_expired_certificate_gets_no_download_link_in_the_chat_as_in_the_api(app, chat, bound):
    _diploma(app, "2017020118")
    code, _ = _issue(chat, "30")
    with app.extensions["gradcert"].sessions() as db:
        db.scalar(select(Certificate)).valid_until = datetime.now(timezone.utc) - timedelta(days=1)
        db.commit()
    chat.say("g1", "2")
    assert "已过期" in chat.say("g1", "2")
    chat.say("g1", "1")
    res = chat.post(*chat.sim.text("g1", "1"))
    assert chat.sim.read(res.data)["MsgType"] == "text"  # no link to a PDF that would answer 410
    assert f"电子证明 {code} 已过期，不能下载。" in chat.sim.reply_text(res.data)
    assert "现在有效至" in chat.say("g1", "2") + chat.say("g1", "90")  # it may still be extended
