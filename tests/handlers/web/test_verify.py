"""The public verification page /v: states, JSON, what is never shown, rate limits, timing, headers."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from bot.diploma import certificates
from bot.platform.demo import demo_students, seed_demo
from models import Certificate, Diploma, Student, utcnow
from tests.costs import Costs
from tests.faults import database_unreachable

MIN_SECONDS = 0.05
BADGES = {
    "valid": "有效",
    "expired": "已过期",
    "closed": "已关闭",
    "revoked": "已撤销",
    "tampered": "无法验证",
    "unknown": "查无此证明",
}
UNKNOWN_CODE = "ABCDEFGHJKLMNPQR"
CERTIFICATE_NO = "139271202005000123"


def badge(html: str) -> tuple[str, str]:
    """The state class and the Chinese text of the status badge."""
    found = re.search(
        r'<div class="badge s-(\w+)"[^>]*>.*?<span class="zh">(.*?)</span>', html, re.S
    )
    assert found, "no status badge"
    return found.group(1), found.group(2)


def make_certificate(
    app, state: str = "valid", student_no: str = "2016010203", certificate_no: str = CERTIFICATE_NO
) -> str:
    """A certificate of a demo student in the given state; returns its code."""
    rt = app.extensions["gradcert"]
    seed_demo(rt)
    with rt.sessions() as db:
        student = db.scalar(select(Student).where(Student.student_no == student_no))
        diploma = db.scalar(select(Diploma).where(Diploma.student_id == student.id))
        if diploma is None:
            diploma = Diploma(
                student_id=student.id,
                certificate_no=certificate_no,
                level="专科",
                major="数控技术",
                study_mode="全日制",
                campus="main",
                grad_date=date(2020, 6, 30),
                leave_date=date(2020, 6, 30),
                status="valid",
                source="main",
            )
            db.add(diploma)
            db.flush()
        if state == "expired":
            cert = certificates.issue(
                db,
                rt.domain.keyring,
                student,
                diploma,
                None,
                30,
                rt.domain.school,
                now=utcnow() - timedelta(days=200),
            )
        else:
            cert = certificates.issue(
                db, rt.domain.keyring, student, diploma, None, 90, rt.domain.school
            )
        if state == "closed":
            certificates.close(db, cert)
        elif state == "revoked":
            certificates.revoke(db, cert, "diploma revoked")
        elif state == "tampered":
            cert.content = cert.content.replace("数控技术", "临床医学")
        db.commit()
        return cert.code


@pytest.fixture
def app(make_app):
    return make_app(VERIFY_MIN_SECONDS=MIN_SECONDS)


@pytest.mark.parametrize("state", ["valid", "expired", "revoked"])
def test_each_state_shows_its_badge_and_the_employer_fields(app, client, state):
    code = make_certificate(app, state)
    res = client.get(f"/v/{code}")
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert badge(html) == (state, BADGES[state])
    for shown in (
        "张三",
        "示范职业技术学院",
        "专科",
        "数控技术",
        "全日制",
        "2020-06-30",
        CERTIFICATE_NO,
    ):
        assert shown in html
    # English labels ride along for the toggle
    assert "Certificate no." in html and "Valid until" in html


def test_a_certificate_closed_by_its_holder_shows_only_that(app, client):
    code = make_certificate(app, "closed")
    html = client.get(f"/v/{code}").get_data(as_text=True)
    assert badge(html) == ("closed", BADGES["closed"])
    for hidden in ("张三", "数控技术", CERTIFICATE_NO):
        assert hidden not in html
    body = client.get(f"/v/{code}.json").get_json()
    assert body["status"] == "closed" and body["name"] is None and body["major"] is None

    # the registrar revokes the diploma afterwards: still nothing shown
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        cert.diploma.status = "revoked"
        assert certificates.revoke_for_revoked_diplomas(db) == 0
        db.commit()
    body = client.get(f"/v/{code}.json").get_json()
    assert body["status"] == "closed" and body["name"] is None and body["major"] is None


@pytest.mark.parametrize("state", ["valid", "expired", "closed", "revoked", "tampered"])
def test_json_variant(app, client, state):
    code = make_certificate(app, state)
    signer = app.extensions["gradcert"].domain.signer
    for url in (f"/v/{code}.json", f"/v/{code}?format=json"):
        body = client.get(url).get_json()
        assert body["code"] == code
        assert body["status"] == state
        assert body["genuine"] is (state != "tampered")
        assert body["public_key"] == signer.public_hex
        assert body["fingerprint"] == signer.fingerprint
        assert len(body["signature"]) == 128 and len(body["digest"]) == 64
        if state in ("tampered", "closed"):
            assert body["name"] is None and body["major"] is None
        else:
            assert body["name"] == "张三" and body["major"] == "数控技术"
            assert body["certificate_no"] == CERTIFICATE_NO and body["grad_date"] == "2020-06-30"
            assert body["valid_until"] and body["school"] == "示范职业技术学院"


def test_signature_and_fingerprint_are_shown_and_verify(app, client):
    code = make_certificate(app)
    html = client.get(f"/v/{code}").get_data(as_text=True)
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        assert cert.signature in html and cert.digest in html
        assert rt.domain.signer.verify(cert.content.encode(), cert.signature)
    assert rt.domain.signer.fingerprint in html
    assert " ".join(code[i : i + 4] for i in range(0, 16, 4)) in html


def test_tampered_content_is_not_genuine_and_not_shown(app, client):
    code = make_certificate(app, "tampered")
    html = client.get(f"/v/{code}").get_data(as_text=True)
    assert badge(html) == ("tampered", BADGES["tampered"]) and "Not genuine" in html
    assert "临床医学" not in html and "张三" not in html


@pytest.mark.parametrize("code", [UNKNOWN_CODE, "SHORT", "ABCDEFGHJKLMNPQRSTUV"])
def test_unknown_code_shows_advice_only(app, client, code):
    make_certificate(app)
    res = client.get(f"/v/{code}")
    html = res.get_data(as_text=True)
    assert res.status_code == 404
    assert badge(html) == ("unknown", BADGES["unknown"])
    assert "16 位" in html  # the advice
    for field in ("张三", "数控技术", "示范职业技术学院", "证书编号", "Certificate no."):
        assert field not in html
    body = client.get(f"/v/{code}.json").get_json()
    assert body["status"] == "unknown" and body["genuine"] is None
    for name in (
        "school",
        "name",
        "level",
        "major",
        "study_mode",
        "grad_date",
        "certificate_no",
        "valid_until",
        "signature",
        "digest",
    ):
        assert body[name] is None


def test_no_id_number_phone_or_student_number_anywhere(app, client):
    student_no, _name, id_number, phone, _campus = demo_students()[0]
    code = make_certificate(app, student_no=student_no)
    for url in (f"/v/{code}", f"/v/{code}.json", f"/v/{code}?lang=en"):
        text = client.get(url).get_data(as_text=True)
        masked_id, masked_phone = (
            id_number[:4] + "*" * 10 + id_number[-4:],
            phone[:3] + "****" + phone[-4:],
        )
        for secret in (id_number, id_number.lower(), masked_id, phone, masked_phone, student_no):
            assert secret not in text


def test_messy_code_in_path_redirects_to_the_clean_one(app, client):
    code = make_certificate(app)
    messy = "-".join(code[i : i + 4] for i in range(0, 16, 4)).lower()
    res = client.get(f"/v/{messy}")
    assert res.status_code == 302 and res.headers["Location"].endswith(f"/v/{code}")


def test_form_redirects_with_a_messy_code(app, client):
    code = make_certificate(app)
    page = client.get("/v")
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    messy = " " + " - ".join(code[i : i + 4] for i in range(0, 16, 4)).lower() + " "
    res = client.get("/v", query_string={"code": messy})
    assert res.status_code == 302 and res.headers["Location"].endswith(f"/v/{code}")
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) for ch in code.lower())
    assert (
        client.get("/v", query_string={"code": fullwidth})
        .headers["Location"]
        .endswith(f"/v/{code}")
    )
    follow = client.get("/v", query_string={"code": messy}, follow_redirects=True)
    assert badge(follow.get_data(as_text=True)) == ("valid", BADGES["valid"])


def test_form_rejects_a_code_of_the_wrong_shape(client):
    res = client.get("/v", query_string={"code": "abc-0011"})
    html = res.get_data(as_text=True)
    assert res.status_code == 400
    assert "16 位" in html and 'aria-invalid="true"' in html and 'value="abc-0011"' in html


def test_lang_en_is_the_initial_language(app, client):
    code = make_certificate(app)
    html = client.get(f"/v/{code}?lang=en").get_data(as_text=True)
    assert '<html lang="en" class="lang-en">' in html
    assert '<html lang="zh-CN" class="lang-zh">' in client.get(f"/v/{code}").get_data(as_text=True)


def test_rate_limit_per_client_address(make_app):
    app = make_app(VERIFY_MIN_SECONDS=0)
    client = app.test_client()
    prefixes = iter(f"{a}{b}" for a in "ABCDEFGH" for b in "JKLMNPQR")
    for _ in range(60):  # spread over prefixes so that only the address limit applies
        assert client.get(f"/v/{next(prefixes)}CDEFGHJKLMNPQR").status_code == 404
    res = client.get(f"/v/{next(prefixes)}CDEFGHJKLMNPQR")
    assert res.status_code == 429
    assert 1 <= int(res.headers["Retry-After"]) <= 60
    html = res.get_data(as_text=True)
    assert "查询过于频繁" in html and "Too many lookups" in html
    as_json = client.get(f"/v/{next(prefixes)}CDEFGHJKLMNPQR.json")
    assert as_json.status_code == 429 and as_json.get_json()["error"] == "rate_limited"
    assert int(as_json.headers["Retry-After"]) >= 1
    other = client.get(f"/v/{UNKNOWN_CODE}", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 404  # another address is not affected


def test_rate_limit_per_code_prefix_across_addresses(make_app):
    app = make_app(VERIFY_MIN_SECONDS=0)
    client = app.test_client()
    for i in range(30):
        res = client.get(f"/v/ZZZZ{i}", environ_base={"REMOTE_ADDR": f"198.51.100.{i}"})
        assert res.status_code == 404
    res = client.get("/v/ZZZZQQQQ", environ_base={"REMOTE_ADDR": "198.51.100.99"})
    assert res.status_code == 429 and "Retry-After" in res.headers
    assert (
        client.get(f"/v/{UNKNOWN_CODE}", environ_base={"REMOTE_ADDR": "198.51.100.99"}).status_code
        == 404
    )


def test_forwarded_for_only_behind_a_trusted_proxy(make_app):
    for trust, expected_limited in ((False, True), (True, False)):
        app = make_app(VERIFY_MIN_SECONDS=0, TRUST_PROXY=trust)
        app.extensions["gradcert"].redis.flushdb()
        client = app.test_client()
        for i in range(60):
            forwarded = {"X-Forwarded-For": f"203.0.113.{i}"}
            client.get(f"/v/{chr(65 + i % 8)}{chr(74 + i // 8)}CDEFGHJKLMNPQR", headers=forwarded)
        res = client.get("/v/" + UNKNOWN_CODE, headers={"X-Forwarded-For": "203.0.113.200"})
        assert (res.status_code == 429) is expected_limited


def _timed(client, url):
    started = time.monotonic()
    res = client.get(url)
    return res, time.monotonic() - started


def test_known_and_unknown_codes_answer_alike_and_only_sm2_work_waits(make_app):
    app = make_app(VERIFY_MIN_SECONDS=1.0)
    client, redis = app.test_client(), app.extensions["gradcert"].redis
    code = make_certificate(app)  # signing remembered its verdict
    assert len(list(redis.scan_iter("gc:sm2:*"))) == 1
    for url in (f"/v/{code}", f"/v/{code}.json", f"/v/{UNKNOWN_CODE}", f"/v/{UNKNOWN_CODE}.json"):
        res, took = _timed(client, url)
        assert res.status_code in (200, 404) and took < 1.0, url
    assert client.get(f"/v/{code}.json").get_json()["genuine"] is True
    # Redis lost its data, the certificates' generation with it: the worker reads the certificate
    # again, SM2 runs, and that answer waits for the floor
    redis.flushdb()
    res, took = _timed(client, f"/v/{code}.json")
    assert res.get_json()["genuine"] is True and took >= 1.0
    res, took = _timed(client, f"/v/{code}.json")  # remembered again
    assert res.get_json()["genuine"] is True and took < 1.0


def test_a_remembered_verdict_does_not_cover_another_signature(app, client):
    code = make_certificate(app)
    assert client.get(f"/v/{code}.json").get_json()["genuine"] is True
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        other = rt.domain.signer.sign(b"some other content")
        cert.signature = other  # content and digest unchanged: only SM2 can tell
        db.commit()
    body = client.get(f"/v/{code}.json").get_json()
    assert body["genuine"] is False and body["status"] == "tampered"


def test_private_headers_and_strict_csp(app, client):
    code = make_certificate(app)
    for url in (f"/v/{code}", f"/v/{code}.json", "/v", f"/v/{UNKNOWN_CODE}"):
        res = client.get(url)
        assert res.headers["Cache-Control"] == "no-store"
        assert res.headers["X-Robots-Tag"] == "noindex"
        assert res.headers["Referrer-Policy"] == "no-referrer"
        csp = res.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    # the page's inline script and style, and nothing else, are allowed, by their SHA-256
    for url in (f"/v/{code}", "/v", f"/v/{UNKNOWN_CODE}", f"/v/{code}?lang=en"):
        res = client.get(url)
        page, csp = res.get_data(as_text=True), res.headers["Content-Security-Policy"]
        for tag in ("script", "style"):
            blocks = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", page, re.S)
            assert len(blocks) == 1, (url, tag)
            digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
            allowed = re.search(rf"{tag}-src ([^;]+)", csp).group(1)
            assert allowed == f"'sha256-{digest}'", (url, tag)
    assert "nonce" not in csp
    # no external assets
    assert "http://" not in page and "https://" not in page and "style=" not in page


def test_guessing_a_prefix_never_blocks_the_real_certificate_of_that_prefix(app, client):
    """Review finding: 30 lookups a minute on a printed prefix blocked a real certificate's page."""
    code = make_certificate(app)
    guess = code[:4] + ("2" * 12 if code[4:] != "2" * 12 else "3" * 12)
    statuses = {
        client.get(f"/v/{guess}", environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code
        for i in range(35)
    }
    assert statuses == {404, 429}  # unknown codes under one prefix are limited...
    # ...the real one is not
    assert client.get(f"/v/{code}", environ_base={"REMOTE_ADDR": "10.0.1.1"}).status_code == 200


def test_a_pdf_rendered_by_several_threads_at_once_is_written_whole(app):
    import threading

    from bot.diploma.files import store_pdf

    code = make_certificate(app)
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        errors, paths = [], []

        def render_once():
            try:
                paths.append(store_pdf(rt.domain, cert))
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)

        threads = [threading.Thread(target=render_once) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [] and len(set(paths)) == 1
    assert paths[0].read_bytes().startswith(b"%PDF") and not list(paths[0].parent.glob("*.tmp"))


def test_a_long_major_wraps_inside_the_page_on_the_pdf():
    from reportlab.pdfbase import pdfmetrics

    from bot.diploma.pdf import CJK, VALUE_ROOM, _wrapped

    # 64 characters, the import's limit
    major = "计算机应用技术（人工智能与大数据方向）" * 3 + "·阿依古丽"
    lines = _wrapped(major, CJK, 10)
    assert "".join(lines) == major and len(lines) > 1
    assert all(pdfmetrics.stringWidth(line, CJK, 10) <= VALUE_ROOM for line in lines)


def test_database_outage_answers_503_within_the_floor_and_recovers(app, client):
    code = make_certificate(app)
    with database_unreachable(app):
        for url in (f"/v/{code}", f"/v/{code}.json", f"/v/{UNKNOWN_CODE}"):
            started = time.monotonic()
            res = client.get(url)
            assert time.monotonic() - started >= MIN_SECONDS
            assert res.status_code == 503 and res.headers["Retry-After"] == "30"
        page = client.get(f"/v/{code}").get_data(as_text=True)
        assert "暂时无法查询" in page and "这不代表该证明无效" in page
        assert client.get(f"/v/{code}.json").json["error"] == "unavailable"
    assert client.get(f"/v/{code}").status_code == 200  # back without a restart
    assert client.get(f"/v/{code}.json").json["status"] == "valid"


def test_a_remembered_answer_costs_one_redis_round_trip_and_no_sql(app, client, monkeypatch):
    code = make_certificate(app)
    costs = Costs(app, monkeypatch)
    client.get("/v/ZZZZ2222ZZZZ2222")  # the page's script loaded into Redis
    for url in (f"/v/{code}", f"/v/{code}.json", f"/v/{UNKNOWN_CODE}", f"/v/{UNKNOWN_CODE}.json"):
        first = costs.measure(lambda url=url: client.get(url))
        again = costs.measure(lambda url=url: client.get(url))
        # read: one query and two round trips, whether the code is known or not
        assert first == (1, 2) or url.endswith(".json"), url  # the page remembered the JSON's
        assert again == (0, 1), url  # remembered: limits, count and generation in one script
    assert client.get(f"/v/{code}.json").get_json()["status"] == "valid"


def test_remembered_answers_follow_every_change_at_once_on_every_worker(make_app):
    first, second = make_app(), make_app()  # two workers: one database, one Redis
    code = make_certificate(first)
    other = make_certificate(first, student_no="2018030307", certificate_no="139271202105000456")
    for app in (first, second):
        for c in (code, other, UNKNOWN_CODE):
            app.test_client().get(f"/v/{c}")  # remembered by both
    rt = first.extensions["gradcert"]
    with rt.sessions() as db:  # the holder closes one; an import revokes the other's diploma
        certificates.close(db, db.scalar(select(Certificate).where(Certificate.code == code)))
        cert = db.scalar(select(Certificate).where(Certificate.code == other))
        db.execute(update(Diploma).where(Diploma.id == cert.diploma_id).values(status="revoked"))
        db.commit()
    for app in (first, second):
        client = app.test_client()
        assert badge(client.get(f"/v/{code}").get_data(as_text=True))[0] == "closed"
        assert client.get(f"/v/{other}.json").get_json()["status"] == "revoked"
        assert client.get(f"/v/{UNKNOWN_CODE}").status_code == 404  # remembered again
    with rt.sessions() as db:  # a code looked up before it was anybody's
        db.execute(update(Certificate).where(Certificate.code == other).values(code=UNKNOWN_CODE))
        with db.begin_nested() as savepoint:  # a savepoint rolled back keeps the change noted
            savepoint.rollback()
        db.commit()
    for app in (first, second):
        assert app.test_client().get(f"/v/{UNKNOWN_CODE}").status_code == 200


def test_a_remembered_certificate_shows_expired_when_its_time_is_up(app, client):
    rt = app.extensions["gradcert"]
    code = make_certificate(app)
    with rt.sessions() as db:  # valid for one more second, as the signed content says
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        student, diploma = db.get(Student, cert.student_id), cert.diploma
        soon = utcnow() - timedelta(days=90) + timedelta(seconds=1)
        code = certificates.issue(
            db, rt.domain.keyring, student, diploma, None, 90, rt.domain.school, now=soon
        ).code
        db.commit()
    assert client.get(f"/v/{code}.json").get_json()["status"] == "valid"
    time.sleep(1.2)
    assert client.get(f"/v/{code}.json").get_json()["status"] == "expired"
