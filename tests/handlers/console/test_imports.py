"""Registrar imports in the console: upload, the dry-run preview (new, changed, unchanged, refused,
conflicts and which side won), confirm, the RQ job, the result; the file sealed only until then;
every step audited with the file's SM3 digest; directors only."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from bot.platform.crypto import sm3
from bot.platform.registrar import import_file
from handlers import jobs
from models import AuditEvent, Diploma, ImportState, OfficeImport, Student
from tests.bot.platform.test_registrar import ident, row, write_csv
from tests.handlers.console.test_appeals import login, make_staff, token


@pytest.fixture
def director(app, tmp_path):
    make_staff(app, "clerk1")
    make_staff(app, "director1", role="director", phone="13700000009", name="李主任")
    rt = app.extensions["gradcert"]
    first = write_csv(tmp_path / "first.csv", [row("S1", 1), row("S2", 2), row("S3", 3)])
    import_file(rt.sessions, rt.domain.cipher, first)  # what the database already holds
    client = app.test_client()
    login(client, "director1")
    return client


def registrar_file(tmp_path) -> bytes:
    rows = [
        row("S1", 1),  # unchanged
        row("S2", 2, major="软件技术", updated_at="2024-07-01 10:00:00"),  # changed
        row(
            "S3", 3, source="east", major="会计", updated_at="2025-01-01 10:00:00"
        ),  # loses to main
        row("S4", 4),  # new
        row("S5", 5, source="east", major="会计"),  # new; two rows, main wins
        row("S5", 5, major="护理", updated_at="2023-01-01 10:00:00"),
        row("S6", 6, id_number="110105198001011234"),  # refused: checksum
    ]
    return write_csv(tmp_path / "registrar.csv", rows).read_bytes()


def upload(client, data: bytes, name: str = "registrar.csv"):
    return client.post(
        "/console/imports",
        data={"csrf_token": token(client), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def run_jobs(app) -> None:
    rt = app.extensions["gradcert"]
    with app.app_context():
        SimpleWorker([rt.queue], connection=rt.redis).work(burst=True, logging_level="WARNING")


def students(app) -> dict[str, Student]:
    with app.extensions["gradcert"].sessions() as db:
        return {s.student_no: s for s in db.scalars(select(Student))}


def audits(app, action: str) -> list[AuditEvent]:
    with app.extensions["gradcert"].sessions() as db:
        return db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_preview_confirm_and_result(app, director, tmp_path):
    data = registrar_file(tmp_path)
    res = upload(director, data)
    assert res.status_code == 303
    page = director.get(res.headers["Location"]).get_data(as_text=True)
    counts = dict(re.findall(r'id="count-(\w+)">(\d+)<', page))
    assert counts == {
        "added": "2",
        "changed": "1",
        "unchanged": "1",
        "superseded": "2",
        "refused": "1",
    }
    assert "预览（试算，尚未写入）" in page and "校验位错误" in page
    assert "1101**********1234" in page and "110105198001011234" not in page
    conflicts = re.findall(
        r"<tr><td class=\"mono\">([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", page
    )
    assert ("S3", "4", "数据库中的记录", "主校区（main）的记录优先于分校区") in conflicts
    assert ("S5", "6、7", "第 7 行", "主校区（main）的记录优先于分校区") in conflicts
    assert "S4" not in students(app)  # a dry run writes nothing

    with app.extensions["gradcert"].sessions() as db:
        item = db.scalars(select(OfficeImport)).one()
    assert item.state == ImportState.PREVIEWED and item.digest == sm3(data).hex()
    assert item.sealed_file and ident(4).encode() not in item.sealed_file
    assert item.digest in audits(app, "registrar_upload")[0].detail

    res = director.post(f"/console/imports/{item.id}/confirm", data={"csrf_token": token(director)})
    assert res.status_code == 303
    waiting = director.get(f"/console/imports/{item.id}")
    assert waiting.headers["Refresh"] == "2" and "排队等待导入" in waiting.get_data(as_text=True)
    run_jobs(app)
    page = director.get(f"/console/imports/{item.id}")
    assert "Refresh" not in page.headers
    html = page.get_data(as_text=True)
    assert "导入结果" in html and dict(re.findall(r'id="count-(\w+)">(\d+)<', html))["added"] == "2"
    stored = students(app)
    assert {"S4", "S5"} <= set(stored) and "S6" not in stored
    with app.extensions["gradcert"].sessions() as db:
        item = db.get(OfficeImport, item.id)
        assert item.state == ImportState.DONE and item.sealed_file is None
        assert (
            db.scalar(select(Diploma.major).join(Student).where(Student.student_no == "S5"))
            == "护理"
        )
        assert (
            db.scalar(select(Diploma.major).join(Student).where(Student.student_no == "S3"))
            == "计算机科学与技术"
        )
    done = audits(app, "registrar_import")
    assert len(done) == 1 and done[0].actor_staff == "director1" and done[0].result == "done"
    assert f"sm3={item.digest}" in done[0].detail and "added=2" in done[0].detail

    again = director.post(
        f"/console/imports/{item.id}/confirm", data={"csrf_token": token(director)}
    )
    assert again.status_code == 303
    assert "已经导入或已取消" in director.get(f"/console/imports/{item.id}").get_data(as_text=True)
    run_jobs(app)
    assert len(audits(app, "registrar_import")) == 1  # imported once


def test_a_large_xlsx_upload_is_read_with_the_same_parser(app, director):
    import openpyxl

    from bot.platform.registrar import COLUMNS

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for i in range(10, 1510):
        sheet.append([row(f"X{i}", i)[c] for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    assert len(out.getvalue()) > 64 * 1024  # over the service's body limit
    res = upload(director, out.getvalue(), "学籍.xlsx")
    assert res.status_code == 303
    html = director.get(res.headers["Location"]).get_data(as_text=True)
    assert 'id="count-added">1500<' in html


def test_refusals_discard_and_expiry(app, director, tmp_path):
    res = upload(director, b"hello", "notes.txt")
    assert res.status_code == 400 and "只能上传 CSV 或 XLSX" in res.get_data(as_text=True)
    res = upload(director, "student_no,name\nS1,张三\n".encode(), "a.csv")
    assert res.status_code == 400 and "缺少列" in res.get_data(as_text=True)
    assert [a.result for a in audits(app, "registrar_upload")] == ["refused", "refused"]

    data = registrar_file(tmp_path)
    first = upload(director, data).headers["Location"].rsplit("/", 1)[1]
    res = director.post(f"/console/imports/{first}/discard", data={"csrf_token": token(director)})
    assert res.status_code == 303
    second = upload(director, data).headers["Location"].rsplit("/", 1)[1]
    with app.extensions["gradcert"].sessions() as db:
        assert db.get(OfficeImport, int(first)).sealed_file is None
        item = db.get(OfficeImport, int(second))
        item.created_at -= timedelta(minutes=61)
        db.commit()
    res = director.post(f"/console/imports/{second}/confirm", data={"csrf_token": token(director)})
    assert "超过 60 分钟未确认" in director.get(res.headers["Location"]).get_data(as_text=True)
    director.get("/console/imports")  # the list drops stale files
    with app.extensions["gradcert"].sessions() as db:
        item = db.get(OfficeImport, int(second))
        assert item.state == ImportState.EXPIRED and item.sealed_file is None

    third = int(upload(director, data).headers["Location"].rsplit("/", 1)[1])
    with app.extensions["gradcert"].sessions() as db:
        db.get(OfficeImport, third).created_at -= timedelta(minutes=61)
        db.commit()
    with app.app_context():
        jobs.sweep()  # and so does the periodic upkeep, if nobody opens the page
    with app.extensions["gradcert"].sessions() as db:
        item = db.get(OfficeImport, third)
        assert item.state == ImportState.EXPIRED and item.sealed_file is None
    assert "S4" not in students(app)


def test_the_size_limit_and_who_may_import(make_app, tmp_path):
    app = make_app(GRADCERT_IMPORT_MAX_MB=1)
    make_staff(app, "clerk1")
    make_staff(app, "director1", role="director", phone="13700000009", name="李主任")
    director = app.test_client()
    login(director, "director1")
    assert upload(director, b"x" * (1024 * 1024 + 10)).status_code == 413
    clerk = app.test_client()
    login(clerk, "clerk1")
    assert clerk.get("/console/imports").status_code == 403
    assert upload(clerk, registrar_file(tmp_path)).status_code == 403
    assert "学籍导入" not in clerk.get("/console/").get_data(as_text=True)
    assert upload(director, registrar_file(tmp_path)).status_code == 303
