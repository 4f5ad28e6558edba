"""The registrar import: validation with line numbers, conflict rules, idempotence, dry run, strict
mode, CSV (UTF-8, BOM, GBK) and XLSX, the `gradcert import` command, and no personal data in output."""

import csv
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.platform.idcard import check_character, mask
from bot.platform.registrar import COLUMNS, ImportFormatError, import_file, read_rows
from models import Diploma, Student


def ident(i: int) -> str:
    first17 = f"110105{1980 + i % 20}0{1 + i % 9}1{i % 10}{i % 1000:03d}"
    return first17 + check_character(first17)


def row(no: str, i: int = 1, **values) -> dict:
    base = {
        "student_no": no,
        "name": f"学生{i}",
        "id_number": ident(i),
        "phone": f"1380000{i:04d}",
        "campus": "main",
        "level": "本科",
        "major": "计算机科学与技术",
        "study_mode": "全日制",
        "enrol_date": "2016-09-01",
        "grad_date": "2020-06-30",
        "leave_date": "",
        "certificate_no": f"C{no}",
        "status": "valid",
        "updated_at": "2024-06-01 10:00:00",
        "source": "main",
    }
    base.update(values)
    return base


def write_csv(path, rows, encoding="utf-8-sig", columns=COLUMNS):
    with open(path, "w", encoding=encoding, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def rt(app):
    return app.extensions["gradcert"]


def run(rt, path, **kw):
    return import_file(rt.sessions, rt.domain.cipher, path, **kw)


def stored(rt, no):
    with rt.sessions() as db:
        return db.execute(
            select(Student, Diploma)
            .join(Diploma, Diploma.student_id == Student.id)
            .where(Student.student_no == no)
        ).one()


def counts(report):
    return report.added, report.changed, report.unchanged, report.superseded, len(report.rejected)


def test_import_seals_personal_data_and_stores_the_diploma(rt, tmp_path):
    path = write_csv(
        tmp_path / "a.csv",
        [
            row("S1", 1),
            row(
                "S2", 2, phone="", certificate_no="", source="gy", campus="gy", grad_date="20210701"
            ),
        ],
    )
    report = run(rt, path)
    assert counts(report) == (2, 0, 0, 0, 0) and report.written
    cipher = rt.domain.cipher
    student, diploma = stored(rt, "S1")
    assert cipher.open(student.id_number_enc, student.pii_key_version, b"id") == ident(1)
    assert cipher.open(student.phone_enc, student.pii_key_version, b"phone") == "13800000001"
    assert student.id_number_index == cipher.index("id", ident(1))
    assert student.phone_index == cipher.index("phone", "13800000001")
    assert (diploma.level, diploma.source, diploma.certificate_no) == ("本科", "main", "CS1")
    assert (diploma.enrol_date, diploma.grad_date, diploma.leave_date) == (
        date(2016, 9, 1),
        date(2020, 6, 30),
        None,
    )
    when = diploma.source_updated_at  # 10:00 in Shanghai is 02:00 UTC
    assert (when if when.tzinfo else when.replace(tzinfo=UTC)) == datetime(
        2024, 6, 1, 2, tzinfo=UTC
    )
    student, diploma = stored(rt, "S2")
    assert student.phone_enc is None and student.phone_index is None and student.campus == "gy"
    assert diploma.certificate_no is None and diploma.grad_date == date(2021, 7, 1)


@pytest.mark.parametrize("main_first", [True, False])
def test_main_beats_campus_in_the_file_whatever_the_order_and_dates(rt, tmp_path, main_first):
    main = row("S1", major="主校区专业", updated_at="2020-01-01")
    campus = row("S1", major="分校专业", source="gy", campus="gy", updated_at="2025-01-01")
    path = write_csv(tmp_path / "a.csv", [main, campus] if main_first else [campus, main])
    assert counts(run(rt, path)) == (1, 0, 0, 1, 0)
    assert stored(rt, "S1")[1].major == "主校区专业"


def test_main_beats_campus_against_the_database_both_ways(rt, tmp_path):
    campus = write_csv(
        tmp_path / "c.csv", [row("S1", major="分校专业", source="gy", updated_at="2025-01-01")]
    )
    main = write_csv(tmp_path / "m.csv", [row("S1", major="主校区专业", updated_at="2020-01-01")])
    run(rt, campus)
    report = run(rt, main)  # an older main record still replaces the campus one
    assert counts(report) == (0, 1, 0, 0, 0) and "major" in report.changes[0][1]
    assert stored(rt, "S1")[1].source == "main"
    newer_campus = write_csv(
        tmp_path / "c2.csv", [row("S1", major="分校专业", source="gy", updated_at="2026-01-01")]
    )
    assert counts(run(rt, newer_campus)) == (0, 0, 0, 1, 0)
    assert stored(rt, "S1")[1].major == "主校区专业"


def test_within_a_source_the_newer_update_wins(rt, tmp_path):
    run(
        rt,
        write_csv(tmp_path / "a.csv", [row("S1", major="旧专业", updated_at="2024-01-01 08:00")]),
    )
    older = write_csv(
        tmp_path / "b.csv", [row("S1", major="更旧", updated_at="2023-12-31 23:59:59")]
    )
    assert counts(run(rt, older)) == (0, 0, 0, 1, 0)
    newer = write_csv(
        tmp_path / "c.csv", [row("S1", major="新专业", updated_at="2024/01/01 08:00:01")]
    )
    report = run(rt, newer)
    assert counts(report) == (0, 1, 0, 0, 0)
    assert report.changes == [(2, ["major", "source_updated_at"])]
    assert stored(rt, "S1")[1].major == "新专业"
    # two campuses in one file: the newer one wins
    rows = [
        row("S2", 2, major="甲", source="gy", updated_at="2024-03-01"),
        row("S2", 2, major="乙", source="cd", updated_at="2024-03-02"),
    ]
    assert counts(run(rt, write_csv(tmp_path / "d.csv", rows))) == (1, 0, 0, 1, 0)
    assert stored(rt, "S2")[1].major == "乙"


def test_reimport_changes_nothing_and_does_not_reseal(rt, tmp_path):
    rows = [row(f"S{i}", i, source="main" if i % 2 else "gy") for i in range(1, 8)]
    rows.append(row("S1", 1, source="gy", major="分校"))  # loses to the main row, every time
    path = write_csv(tmp_path / "a.csv", rows)
    assert counts(run(rt, path)) == (7, 0, 0, 1, 0)
    with rt.sessions() as db:
        before = {s.student_no: (s.id_number_enc, s.phone_enc) for s in db.scalars(select(Student))}
    report = run(rt, path)
    assert counts(report) == (0, 0, 7, 1, 0)
    with rt.sessions() as db:
        assert {
            s.student_no: (s.id_number_enc, s.phone_enc) for s in db.scalars(select(Student))
        } == before
    changed = write_csv(
        tmp_path / "b.csv", [row("S3", 3, phone="13912345678", updated_at="2024-07-01")]
    )
    report = run(rt, changed)
    assert counts(report) == (0, 1, 0, 0, 0) and report.changes == [
        (2, ["source_updated_at", "phone"])
    ]
    student, _ = stored(rt, "S3")
    assert student.id_number_enc == before["S3"][0] and student.phone_enc != before["S3"][1]
    assert (
        rt.domain.cipher.open(student.phone_enc, student.pii_key_version, b"phone") == "13912345678"
    )


def test_dry_run_writes_nothing_and_reports_field_names(rt, tmp_path):
    run(rt, write_csv(tmp_path / "a.csv", [row("S1", 1)]))
    rows = [
        row("S1", 1, major="新专业", phone="13911112222", updated_at="2025-01-01"),
        row("S2", 2),
        row("S3", 3, level="硕士"),
    ]
    report = run(rt, write_csv(tmp_path / "b.csv", rows), dry_run=True)
    assert counts(report) == (1, 1, 0, 0, 1) and not report.written
    text = "\n".join(report.lines())
    assert "line 2: would change major, source_updated_at, phone" in text
    assert "line 4: 未知层次 unknown level '硕士'" in text
    assert text.splitlines()[-1].startswith(
        "dry run, nothing written: added 1, changed 1, unchanged 0"
    )
    assert "13911112222" not in text and ident(2) not in text
    with rt.sessions() as db:
        assert db.scalars(select(Student.student_no)).all() == ["S1"]
    assert stored(rt, "S1")[1].major == "计算机科学与技术"


def bad_rows():
    bad_check = ident(3)[:17] + ("0" if ident(3)[17] != "0" else "1")
    return [
        row("S1", 1),
        row("S2", 2, id_number="110105491231002"),  # line 3: old 15-digit number
        row("S3", 3, id_number=bad_check),  # line 4: checksum
        row("S4", 4, level="硕士"),  # line 5
        row("S5", 5, grad_date="2020-13-01"),  # line 6
        row("S6", 6, phone="2380000000"),  # line 7
        row("", 7, name=""),  # line 8
        row(
            "S1", 1, status="lost", updated_at="yesterday"
        ),  # line 9: duplicate, bad status and time
        row(
            "S9",
            9,
            enrol_date="2016/9/1",
            grad_date="20200630",
            updated_at="2024-06-01T10:00:00+08:00",
        ),
    ]


def test_bad_rows_are_rejected_with_line_numbers_and_masked_values(rt, tmp_path):
    rows = bad_rows()
    report = run(rt, write_csv(tmp_path / "a.csv", rows))
    assert counts(report) == (2, 0, 0, 0, 7) and report.written
    reasons = dict(report.rejected)
    assert (
        reasons[3] == "身份证号为旧15位号码 invalid ID number (old 15-digit number) 1101*******1002"
    )
    assert (
        reasons[4]
        == f"身份证号校验位错误 invalid ID number (checksum) {mask(rows[2]['id_number'])}"
    )
    assert "unknown level '硕士'" in reasons[5]
    assert reasons[6].startswith("日期错误 bad date in grad_date: '2020-13-01'")
    assert reasons[7] == "手机号无效 invalid phone (11 digits starting with 1) 238****0000"
    assert "empty student_no" in reasons[8] and "empty name" in reasons[8]
    assert (
        "unknown status 'lost'" in reasons[9]
        and "bad date in updated_at: 'yesterday'" in reasons[9]
    )
    text = "\n".join(report.lines())
    for r in rows:
        assert r["id_number"] not in text and (not r["phone"] or r["phone"] not in text)
    assert stored(rt, "S9")[1].enrol_date == date(2016, 9, 1)


def test_strict_imports_nothing_when_a_row_is_rejected(rt, tmp_path):
    report = run(rt, write_csv(tmp_path / "a.csv", bad_rows()), strict=True)
    assert counts(report) == (2, 0, 0, 0, 7) and not report.written
    assert report.lines()[-1].startswith("strict: rows were rejected, nothing imported")
    with rt.sessions() as db:
        assert db.scalars(select(Student)).all() == []


def test_certificate_numbers_stay_unique(rt, tmp_path):
    run(rt, write_csv(tmp_path / "a.csv", [row("S1", 1, certificate_no="C100")]))
    rows = [
        row("S2", 2, certificate_no="C100"),
        row("S3", 3, certificate_no="C300"),
        row("S4", 4, certificate_no="C300"),
    ]
    report = run(rt, write_csv(tmp_path / "b.csv", rows))
    assert counts(report) == (1, 0, 0, 0, 2)
    assert report.rejected == [
        (2, "证书编号已被占用 certificate_no already used (the database)"),
        (4, "证书编号已被占用 certificate_no already used (line 3)"),
    ]


def test_gbk_csv_without_bom_and_blank_lines(rt, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", [row("S1", 1, name="王芳"), {}], encoding="gbk")
    assert [(line, r["name"]) for line, r in read_rows(path)] == [(2, "王芳")]
    assert counts(run(rt, path)) == (1, 0, 0, 0, 0)
    assert stored(rt, "S1")[0].name == "王芳"


def test_missing_column_is_named(rt, tmp_path):
    path = write_csv(
        tmp_path / "a.csv",
        [row("S1")],
        columns=[c for c in COLUMNS if c not in ("phone", "source")],
    )
    with pytest.raises(ImportFormatError, match="missing column\\(s\\): phone, source"):
        run(rt, path)


def test_xlsx_with_date_cells_and_numeric_cells(rt, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    order = list(reversed(COLUMNS))  # column order is free
    sheet.append(order)
    values = row(
        "2016010203",
        1,
        phone=13800000001,
        enrol_date=datetime(2016, 9, 1),
        grad_date=date(2020, 6, 30),
        updated_at=datetime(2024, 6, 1, 10, 0),
        leave_date=None,
    )
    sheet.append([values[c] for c in order])
    sheet.append([None] * len(order))
    sheet.append([row("S2", 2, level="博士")[c] for c in order])
    book.save(tmp_path / "a.xlsx")
    report = run(rt, tmp_path / "a.xlsx")
    assert counts(report) == (1, 0, 0, 0, 1) and report.rejected[0][0] == 4
    student, diploma = stored(rt, "2016010203")
    assert diploma.enrol_date == date(2016, 9, 1) and diploma.grad_date == date(2020, 6, 30)
    assert (
        rt.domain.cipher.open(student.phone_enc, student.pii_key_version, b"phone") == "13800000001"
    )
    assert counts(run(rt, tmp_path / "a.xlsx")) == (0, 0, 1, 0, 1)


def test_within_one_file_and_source_the_newer_row_wins_and_main_is_main_in_any_case(rt, tmp_path):
    rows = [
        row("S1", 1, major="旧专业", updated_at="2024-01-01 10:00:00"),
        row("S1", 1, major="新专业", updated_at="2024-06-01 10:00:00", source="MAIN"),
    ]
    report = run(rt, write_csv(tmp_path / "a.csv", rows))
    assert counts(report) == (1, 0, 0, 1, 0)
    assert stored(rt, "S1")[1].major == "新专业" and stored(rt, "S1")[1].source == "main"
    later = run(
        rt,
        write_csv(
            tmp_path / "b.csv",
            [
                row(
                    "S1",
                    1,
                    major="分校写法",
                    source="gy",
                    campus="gy",
                    updated_at="2025-01-01 10:00:00",
                )
            ],
        ),
    )
    assert counts(later) == (0, 0, 0, 1, 0)  # a campus record never beats the main one


def test_excel_numbers_formulas_odd_dates_and_multiline_fields_are_reported(rt, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    mangled = row("S1", 1)
    mangled["id_number"] = float(
        mangled["id_number"][:17] + "0"
    )  # what Excel keeps of an 18-digit number
    sheet.append([mangled[c] for c in COLUMNS])
    book.save(tmp_path / "a.xlsx")
    report = run(rt, tmp_path / "a.xlsx")
    assert report.rejected[0][0] == 2 and "number-formatted cell" in report.rejected[0][1]

    rows = [
        row("S2", 2, major="计算机\n科学"),  # a quoted field over two physical lines
        row("=cmd|' /C calc'!A0", 3),
        row("S4", 4, name='=HYPERLINK("x")'),
        row("S5", 5, updated_at="0001-01-01 00:00"),
    ]
    reasons = dict(run(rt, write_csv(tmp_path / "b.csv", rows)).rejected)
    assert set(reasons) == {4, 5, 6}  # physical lines: line 2 spans two
    assert (
        "bad student_no" in reasons[4]
        and "formula" in reasons[5]
        and "bad date in updated_at" in reasons[6]
    )


def test_import_command(app, tmp_path):
    from handlers.cli import import_command

    rows = bad_rows()
    path = write_csv(tmp_path / "a.csv", rows)
    missing = write_csv(tmp_path / "m.csv", [row("S1")], columns=COLUMNS[:-1])
    with app.app_context():
        strict = CliRunner().invoke(import_command, [str(path), "--strict"])
        dry = CliRunner().invoke(import_command, [str(path), "--dry-run"])
        result = CliRunner().invoke(import_command, [str(path)])
        again = CliRunner().invoke(import_command, [str(path)])
        bad = CliRunner().invoke(import_command, [str(missing)])
    assert strict.exit_code == 1 and "nothing imported" in strict.output
    assert dry.exit_code == 0 and "dry run, nothing written: added 2" in dry.output
    assert result.exit_code == 0, result.output
    assert "line 4: 身份证号校验位错误 invalid ID number (checksum)" in result.output
    assert "checking: 2/2 (100%), done in" in result.output  # progress, with counts
    assert "writing: 2/2 (100%), done in" in result.output
    assert result.output.splitlines()[-1].startswith(
        "added 2, changed 0, unchanged 0, superseded 0, rejected 7 ("
    )
    assert again.output.splitlines()[-1].startswith(
        "added 0, changed 0, unchanged 2, superseded 0, rejected 7 ("
    )
    assert bad.exit_code == 2 and "missing column(s): source" in bad.output
    for output in (strict.output, dry.output, result.output, again.output):
        for r in rows:
            assert r["id_number"] not in output and (not r["phone"] or r["phone"] not in output)


def test_bulk_write_keeps_every_character_and_seals_personal_data(rt, tmp_path):
    """The bulk path (COPY on PostgreSQL) stores awkward text exactly and the sealed values open."""
    awkward = 'O\'Brien \\ "Jr"\tMa'
    path = write_csv(
        tmp_path / "a.csv",
        [row("S1", 1, name=awkward, major="机电一体化\\技术\nNew"), row("S2", 2, phone="")],
    )
    assert run(rt, path).added == 2
    student, diploma = stored(rt, "S1")
    assert student.name == awkward and diploma.major == "机电一体化\\技术\nNew"
    assert rt.domain.cipher.open(student.id_number_enc, student.pii_key_version, b"id") == ident(1)
    assert diploma.enrol_date == date(2016, 9, 1) and diploma.status == "valid"
    assert diploma.source_updated_at.astimezone(UTC) == datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
    assert stored(rt, "S2")[0].phone_enc is None
    assert run(rt, path).unchanged == 2
