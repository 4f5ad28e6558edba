"""The registrar import (`gradcert import`): students and their diplomas from a CSV or XLSX export.

Every row is validated; a rejection names its line and, masked, the value at fault. For one student
(by student_no) a `main` record beats a campus record whatever the dates, and within a source the
newer `updated_at` wins, both inside the file and against what is stored. Unchanged rows are found
by comparing values (ID number and phone through their blind indexes), so importing a file twice
writes nothing and never re-seals personal data. The good rows go in one transaction, in bulk.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy import Row as StoredRow
from sqlalchemy import (
    text as sql,
)
from sqlalchemy.orm import Session, sessionmaker

from bot.diploma.certificates import revoke_for_revoked_diplomas
from bot.platform import idcard
from bot.platform.crypto import PiiCipher
from bot.understand import read_id_number
from models import Diploma, Student, utcnow

COLUMNS = (
    "student_no",
    "name",
    "id_number",
    "phone",
    "campus",
    "level",
    "major",
    "study_mode",
    "enrol_date",
    "grad_date",
    "leave_date",
    "certificate_no",
    "status",
    "updated_at",
    "source",
)
LEVELS = ("专科", "本科", "中职")
STATUSES = ("valid", "revoked")
MAIN = "main"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # naive updated_at values are the registrar's local time
REQUIRED = ("student_no", "name", "campus", "major", "study_mode", "source", "updated_at")
MAX_LENGTH = {
    "student_no": 32,
    "name": 64,
    "campus": 32,
    "major": 64,
    "study_mode": 16,
    "certificate_no": 32,
    "source": 32,
}
DATES = ("enrol_date", "grad_date", "leave_date")
DIPLOMA_FIELDS = (
    "level",
    "major",
    "study_mode",
    "campus",
    *DATES,
    "certificate_no",
    "status",
    "source",
    "source_updated_at",
)
CHUNK = 2000  # rows per IN (...) lookup and per bulk statement
ANALYZE_AFTER = 1000  # new rows after which PostgreSQL is asked to refresh its statistics
ID_PROBLEMS = {
    "empty": ("为空", "empty"),
    "fifteen": ("为旧15位号码", "old 15-digit number"),
    "length": ("位数不对", "length"),
    "characters": ("含非法字符", "characters"),
    "region": ("地区码错误", "region"),
    "birth_date": ("出生日期错误", "birth date"),
    "checksum": ("校验位错误", "checksum"),
}
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})|(\d{4})/(\d{1,2})/(\d{1,2})|(\d{4})(\d{2})(\d{2})")
_PHONE = re.compile(r"1\d{10}")
_PLAIN_ID = re.compile(r"\d{17}[\dXx]")
_STUDENT_NO = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]*")
_STORED = (
    Student.id,
    Student.student_no,
    Student.name,
    Student.campus.label("student_campus"),
    Student.id_number_index,
    Student.phone_index,
    Student.pii_key_version,
    Diploma.id.label("diploma_id"),
    *(getattr(Diploma, name) for name in DIPLOMA_FIELDS),
)

Value = str | date | datetime
Row = dict[str, Value]


class ImportFormatError(ValueError):
    """The file is not a readable registrar export (format, encoding, missing columns)."""


@dataclass
class Record:
    """One valid row, normalised; `diploma` holds the DIPLOMA_FIELDS values."""

    line: int
    student_no: str
    name: str
    id_number: str
    phone: str | None
    diploma: dict[str, object]

    @property
    def rank(self) -> tuple[bool, datetime]:
        """Precedence: main over campus, then the newer update."""
        return self.diploma["source"] == MAIN, self.diploma["source_updated_at"]


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do); line numbers and field names only."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    superseded: int = 0  # rows that lose to a main or newer record, in the file or in the database
    rejected: list[tuple[int, str]] = field(default_factory=list)
    changes: list[tuple[int, list[str]]] = field(default_factory=list)  # (line, changed fields)
    dry_run: bool = False
    written: bool = False
    seconds: float = 0.0
    certificates_revoked: int = 0  # live e-certificates of diplomas this import revoked

    def lines(self) -> list[str]:
        """Rejected lines, the fields a dry run would change, then the summary line."""
        out = [f"line {line}: {reason}" for line, reason in sorted(self.rejected)]
        if self.dry_run:
            out += [f"line {line}: would change {', '.join(names)}" for line, names in self.changes]
        summary = (
            f"added {self.added}, changed {self.changed}, unchanged {self.unchanged}, "
            f"superseded {self.superseded}, rejected {len(self.rejected)} ({self.seconds:.1f} s)"
        )
        if self.dry_run:
            summary = "dry run, nothing written: " + summary
        elif not self.written:
            summary = "strict: rows were rejected, nothing imported: " + summary
        if self.certificates_revoked:
            out.append(f"revoked {self.certificates_revoked} e-certificates of revoked diplomas")
        return out + [summary]


def read_rows(path: str | Path) -> Iterator[tuple[int, Row]]:
    """(line, {column: value}) for each non-blank data row; the header (line 1) is checked now."""
    path, close = Path(path), None
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise ImportFormatError(
                f"无法读取 cannot read the workbook ({type(exc).__name__})"
            ) from None
        cells, clean, close = book.worksheets[0].iter_rows(values_only=True), _cell, book.close
    else:
        cells, clean = csv.reader(io.StringIO(_decode(path.read_bytes()))), str.strip
    header = [str(clean(value)) for value in next(cells, ())]
    if missing := [name for name in COLUMNS if name not in header]:
        if close:
            close()
        raise ImportFormatError(f"缺少列 missing column(s): {', '.join(missing)}")
    reader = cells if close is None else None  # CSV: a quoted field may span lines
    return _data_rows(cells, {name: header.index(name) for name in COLUMNS}, clean, close, reader)


def import_file(
    sessions: sessionmaker,
    cipher: PiiCipher,
    path: str | Path,
    *,
    dry_run: bool = False,
    strict: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportReport:
    """Validate, resolve conflicts, upsert students and diplomas (see the module docstring);
    `progress(what, done, total)` hears how far the checking and the writing are."""
    progress = progress or (lambda *_: None)
    started = time.perf_counter()
    report = ImportReport(dry_run=dry_run)
    winners = _winners(_valid_records(read_rows(path), report), report)
    with sessions() as db:
        new, updates = settle(db, cipher, winners, report, progress=progress)
        report.added, report.changed = len(new), len(updates)
        if not dry_run and not (strict and report.rejected):
            _write(db, cipher, new, updates, progress)
            report.certificates_revoked = revoke_for_revoked_diplomas(db)
            db.commit()
            report.written = True
    report.seconds = time.perf_counter() - started
    return report


def settle(
    db: Session,
    cipher: PiiCipher,
    winners: dict[str, Record],
    report: ImportReport,
    *,
    progress: Callable[[str, int, int], None] = lambda *_: None,
    origin: Callable[[Record], str] = lambda rec: f"line {rec.line}",
) -> tuple[list[Record], list[tuple[Record, StoredRow, list[str]]]]:
    """The winners against what is stored: (new records, updates with the fields they change);
    unchanged, superseded and refused ones are counted in `report`. A certificate number may
    belong to one student only, in the database and in this batch (`origin` names the record
    that claimed it first: a file's line, a sync's student number). The file import
    (`import_file`) and the registrar sync (registrar_sync) both decide here."""
    stored = _stored(db, list(winners))
    owners = _certificate_owners(db, [r.diploma["certificate_no"] for r in winners.values()])
    claimed: dict[str, Record] = {}
    new: list[Record] = []
    updates: list[tuple[Record, StoredRow, list[str]]] = []
    for checked, rec in enumerate(winners.values(), 1):
        progress("checking", checked, len(winners))
        row = stored.get(rec.student_no)
        names = _changed_fields(cipher, rec, row) if row else []
        if row and not names:
            report.unchanged += 1
        elif row and row.diploma_id is not None and rec.rank <= _stored_rank(row):
            report.superseded += 1
        elif (cert := rec.diploma["certificate_no"]) and (
            cert in claimed or owners.get(cert, rec.student_no) != rec.student_no
        ):
            where = origin(claimed[cert]) if cert in claimed else "the database"
            report.rejected.append(
                (rec.line, f"证书编号已被占用 certificate_no already used ({where})")
            )
        else:
            if cert:
                claimed[cert] = rec
            if row is None:
                new.append(rec)
            else:
                updates.append((rec, row, names))
                report.changes.append((rec.line, names))
    return new, updates


def _decode(data: bytes) -> str:
    for encoding in (
        "utf-8-sig",
        "gb18030",
    ):  # gb18030: GBK's superset, what Excel on Chinese Windows saves
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    raise ImportFormatError("无法识别编码 the file is neither UTF-8 nor GBK")


class NumberCell(str):
    """An XLSX cell that Excel stored as a number: an 18-digit ID or certificate number in it has
    lost its last digits (Excel keeps 15), and a leading zero is gone."""


def _cell(value: object) -> Value:
    """An XLSX cell: dates kept, whole numbers without `.0` (marked as numbers), text stripped."""
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return NumberCell(int(value) if float(value).is_integer() else value)
    return "" if value is None else str(value).strip()


def _data_rows(
    cells, columns: dict[str, int], clean, close, reader=None
) -> Iterator[tuple[int, Row]]:
    """(line, row): the line a row starts on in the file (a CSV reader counts physical lines)."""
    try:
        last = reader.line_num if reader is not None else 1
        for index, values in enumerate(cells, start=2):
            line = last + 1 if reader is not None else index
            last = reader.line_num if reader is not None else index
            values = [clean(value) for value in values]
            if any(value != "" for value in values):
                yield (
                    line,
                    {name: values[i] if i < len(values) else "" for name, i in columns.items()},
                )
    finally:
        if close:
            close()


def _valid_records(rows: Iterator[tuple[int, Row]], report: ImportReport) -> list[Record]:
    """The rows that pass; two rows of one student are settled later by rank (_winners)."""
    records = []
    for line, row in rows:
        record, errors = _record(line, row)
        if errors:
            report.rejected.append((line, "; ".join(errors)))
        else:
            records.append(record)
    return records


def _record(line: int, row: Row) -> tuple[Record | None, list[str]]:
    """The row as a Record, or the reasons it is rejected (personal values masked)."""
    text = {name: value if isinstance(value, str) else str(value) for name, value in row.items()}
    text["source"] = text["source"].lower()  # MAIN and main are the main campus
    errors = [f"{name} 为空 empty {name}" for name in REQUIRED if not text[name]]
    errors += [
        f"{name} 是数字格式的单元格，请把这一列设为文本后重新导出 number-formatted cell (Excel drops digits): "
        f"set the column to text"
        for name in ("id_number", "certificate_no")
        if isinstance(row[name], NumberCell)
    ]
    if text["student_no"] and not _STUDENT_NO.fullmatch(text["student_no"]):
        errors.append(
            f"学号格式不对 bad student_no {_shown(text['student_no'])} (letters, digits and -)"
        )
    errors += [
        f"{name} 不能以 = + - @ 开头 must not start like a formula"
        for name in ("name", "major", "campus")
        if text[name][:1] in ("=", "+", "-", "@")
    ]
    errors += [
        f"{name} 过长 too long (max {n})" for name, n in MAX_LENGTH.items() if len(text[name]) > n
    ]
    id_number = _normalised(text["id_number"], _PLAIN_ID)
    if problem := idcard.problem(id_number):
        zh, en = ID_PROBLEMS[problem.value]
        errors.append(f"身份证号{zh} invalid ID number ({en}) {idcard.mask(id_number)}")
    phone = _normalised(text["phone"], _PHONE) or None
    if phone and not _PHONE.fullmatch(phone):
        errors.append(
            f"手机号无效 invalid phone (11 digits starting with 1) {idcard.mask_phone(phone)}"
        )
    if text["level"] not in LEVELS:
        errors.append(
            f"未知层次 unknown level {_shown(text['level'])} (allowed: {', '.join(LEVELS)})"
        )
    if (status := text["status"].lower() or STATUSES[0]) not in STATUSES:
        errors.append(
            f"未知状态 unknown status {_shown(text['status'])} (allowed: {', '.join(STATUSES)})"
        )
    values: dict[str, object] = {}
    for name in (*DATES, "updated_at"):
        try:
            values[name] = _timestamp(row[name]) if name == "updated_at" else _date(row[name])
        except (
            ValueError,
            OverflowError,
        ):  # OverflowError: a year like 0001 moved across time zones
            if text[name]:
                hint = (
                    "YYYY-MM-DD HH:MM:SS"
                    if name == "updated_at"
                    else "YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD"
                )
                errors.append(f"日期错误 bad date in {name}: {_shown(text[name])} ({hint})")
    if errors:
        return None, errors
    diploma = {name: text[name] for name in ("level", "major", "study_mode", "campus", "source")}
    diploma.update(
        {name: values[name] for name in DATES},
        certificate_no=text["certificate_no"] or None,
        status=status,
        source_updated_at=values["updated_at"],
    )
    return Record(line, text["student_no"], text["name"], id_number, phone, diploma), []


def _normalised(value: str, plain: re.Pattern) -> str:
    """read_id_number, skipped for values that are already clean (most are, and it is slow)."""
    return value.upper() if plain.fullmatch(value) else read_id_number(value)


def _shown(value: str) -> str:
    """A value quoted in a reason; long ones are masked in case columns were swapped."""
    return repr(value) if len(value) <= 10 else idcard.mask(value)


def _date(value: Value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date) or not value:
        return value or None
    if len(value) == 10 and value[4] == value[7] == "-" and value.isascii():
        return date.fromisoformat(value)  # the usual YYYY-MM-DD, without the regular expression
    if not (match := _DATE.fullmatch(value)):
        raise ValueError(value)
    year, month, day = (int(part) for part in match.groups() if part is not None)
    return date(year, month, day)


def _timestamp(value: Value) -> datetime:
    """updated_at in UTC; naive values (cells, `2024-06-01 10:00`) are Asia/Shanghai time."""
    if isinstance(value, str):
        value = _parse_time(value.replace("/", "-"))
    elif not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return (value if value.tzinfo else value.replace(tzinfo=SHANGHAI)).astimezone(UTC)


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):  # unpadded: 2024-6-1 9:30
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            pass
    raise ValueError(text)


def _utc(value: datetime) -> datetime:
    """Stored times come back naive from SQLite (they are UTC) and aware from PostgreSQL."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored_rank(row: StoredRow) -> tuple[bool, datetime]:
    return row.source == MAIN, _utc(row.source_updated_at)


def _winners(records: list[Record], report: ImportReport) -> dict[str, Record]:
    """The best record per student_no, in line order; the others count as superseded."""
    best: dict[str, Record] = {}
    for rec in records:
        current = best.get(rec.student_no)
        if current is not None:
            report.superseded += 1
        if current is None or rec.rank > current.rank:
            best[rec.student_no] = rec
    return dict(sorted(best.items(), key=lambda item: item[1].line))


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _among(db: Session, column, values: list[str]) -> Iterator:
    """`column IN values` by batches: on PostgreSQL one array parameter (`= ANY(...)`) for all of
    them (an IN list of thousands of placeholders costs more to build and parse than to run),
    elsewhere IN lists of CHUNK placeholders."""
    if db.get_bind().dialect.name == "postgresql":
        yield column == any_(bindparam(None, values, type_=ARRAY(String)))
        return
    for chunk in _chunks(values):
        yield column.in_(chunk)


def _stored(db: Session, student_nos: list[str]) -> dict[str, StoredRow]:
    """Stored students with their diploma's fields (None without a diploma), by student_no."""
    found = {}
    query = select(*_STORED).outerjoin(Diploma, Diploma.student_id == Student.id)
    for condition in _among(db, Student.student_no, student_nos):
        found.update((row.student_no, row) for row in db.execute(query.where(condition)))
    return found


def _certificate_owners(db: Session, numbers: list) -> dict[str, str]:
    """certificate_no -> student_no for the numbers already in the database."""
    owners = {}
    query = select(Diploma.certificate_no, Student.student_no).join(
        Student, Student.id == Diploma.student_id
    )
    for condition in _among(db, Diploma.certificate_no, [n for n in numbers if n]):
        owners.update((number, no) for number, no in db.execute(query.where(condition)))
    return owners


def _changed_fields(cipher: PiiCipher, rec: Record, row: StoredRow) -> list[str]:
    """Names of what differs between the record and the stored student and diploma."""
    if row.diploma_id is None:
        names = ["diploma"]
    else:
        stored = {name: getattr(row, name) for name in DIPLOMA_FIELDS}
        stored["source_updated_at"] = _utc(stored["source_updated_at"])
        names = [name for name in DIPLOMA_FIELDS if stored[name] != rec.diploma[name]]
    if row.student_campus != rec.diploma["campus"] and "campus" not in names:
        names.append("campus")
    if row.name != rec.name:
        names.append("name")
    if row.id_number_index != cipher.index("id", rec.id_number):
        names.append("id_number")
    if row.phone_index != (cipher.index("phone", rec.phone) if rec.phone else None):
        names.append("phone")
    return names


def _sealed(
    cipher: PiiCipher, rec: Record, version: int | None = None, names: Sequence[str] = ()
) -> dict:
    """Sealed ID number and phone with indexes: for a stored student only what changed, unless it is
    under an older key (then both move, so that its one key-version column stays true)."""
    fresh = version != cipher.current_version
    values: dict[str, object] = {"pii_key_version": cipher.current_version}
    if fresh or "id_number" in names:
        values["id_number_enc"] = cipher.seal(rec.id_number, b"id")[0]
        values["id_number_index"] = cipher.index("id", rec.id_number)
    if fresh or "phone" in names:
        values["phone_enc"] = cipher.seal(rec.phone, b"phone")[0] if rec.phone else None
        values["phone_index"] = cipher.index("phone", rec.phone) if rec.phone else None
    return values


def _write(
    db: Session,
    cipher: PiiCipher,
    new: list[Record],
    updates: list[tuple[Record, StoredRow, list[str]]],
    progress: Callable[[str, int, int], None] = lambda *_: None,
) -> None:
    """Bulk statements in chunks: updates by primary key, then new students, then new diplomas."""
    now, students, diplomas, new_diplomas = utcnow(), [], [], []
    total, written = len(updates) + len(new), 0
    progress("writing", 0, total)
    for rec, row, names in updates:
        values = {
            "id": row.id,
            "name": rec.name,
            "campus": rec.diploma["campus"],
            "updated_at": now,
        }
        if "id_number" in names or "phone" in names:
            values.update(_sealed(cipher, rec, row.pii_key_version, names))
        students.append(values)
        if row.diploma_id is None:
            new_diplomas.append({"student_id": row.id, **rec.diploma})
        else:
            diplomas.append({"id": row.diploma_id, **rec.diploma})
    for chunk in _chunks(students):
        db.execute(update(Student), chunk)
        written += len(chunk)
        progress("writing", written, total)
    for chunk in _chunks(diplomas):
        db.execute(update(Diploma), chunk)
    if new:
        before = db.scalar(select(func.coalesce(func.max(Student.id), 0)))
        rows = [
            {
                "student_no": r.student_no,
                "name": r.name,
                "campus": r.diploma["campus"],
                **_sealed(cipher, r),
                "created_at": now,
                "updated_at": now,
            }
            for r in new
        ]
        _insert(db, Student.__table__, rows)
        query = select(Student.student_no, Student.id).where(Student.id > before)
        ids = dict(db.execute(query).tuples().all())
        new_diplomas += [{"student_id": ids[r.student_no], **r.diploma} for r in new]
        progress("writing", written + len(new), total)
    _insert(db, Diploma.__table__, new_diplomas)
    if len(new) >= ANALYZE_AFTER and db.get_bind().dialect.name == "postgresql":
        # the planner's statistics are of the tables before the bulk write; without fresh ones
        # the next import's lookups join tens of thousands of rows as if there were a handful
        db.execute(sql("ANALYZE students, diplomas"))


def _insert(db: Session, table: Table, rows: list[dict]) -> None:
    """Insert `rows` (all with the same keys, defaults included): PostgreSQL's COPY, an order of
    magnitude faster than multi-row INSERTs for a registrar export, and Core executemany
    elsewhere. Both go through the session's connection, so they commit or roll back with it."""
    if not rows:
        return
    if db.get_bind().dialect.name != "postgresql":
        for chunk in _chunks(rows):
            db.execute(insert(table), chunk)
        return
    names = list(rows[0])
    sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    cursor = db.connection().connection.cursor()
    try:
        if hasattr(cursor, "copy"):  # psycopg 3
            enums = [name for name in names if isinstance(table.c[name].type, SAEnum)]
            with cursor.copy(sql) as copy:
                for row in rows:
                    for name in enums:  # their stored value (psycopg writes an enum's name)
                        row[name] = _plain(row[name])
                    copy.write_row([row[name] for name in names])
        else:  # psycopg2 (a URL naming it): COPY's text format
            fields = [(name, _copy_field(table.c[name].type)) for name in names]
            data = "".join(
                "\t".join("\\N" if row[n] is None else f(row[n]) for n, f in fields) + "\n"
                for row in rows
            )
            cursor.copy_expert(sql, io.StringIO(data))
    finally:
        cursor.close()


def _plain(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(column_type) -> Callable[[object], str]:
    """How a value of a column is written in COPY's text format (NULLs are handled before)."""
    if isinstance(column_type, LargeBinary):
        return lambda value: "\\\\x" + value.hex()
    if isinstance(column_type, DateTime | Date):  # datetimes are aware (UTC): the offset is kept
        return lambda value: value.isoformat()
    if isinstance(column_type, Integer):
        return str
    return lambda value: str(_plain(value)).translate(_COPY_ESCAPES)
