"""The registrar sync against a real database standing in for the registrar's (an SQLite file
everywhere; a separate PostgreSQL database too when the tests run on PostgreSQL): the first full
pass, incremental passes after changes, ties on updated_at, deletions, campus against main, refused
rows kept until corrected, a failure half-way resumed without duplicates, the 20:00 schedule, the
upkeep's job (one process at a time) and `gradcert sync`."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.platform.registrar import COLUMNS
from bot.platform.registrar_source import RegistrarSource, SyncConfigError
from bot.platform.registrar_sync import (
    SyncKind,
    current,
    due,
    lag,
    refusals,
    sync,
)
from models import Diploma, DiplomaStatus, Student
from models.registrar_sync import RegistrarSync
from tests.bot.platform.test_registrar import ident, row

SOURCES = ["sqlite", "postgresql"]


@pytest.fixture(params=SOURCES)
def source_url(request, tmp_path):
    """The registrar's database with an empty `registrar_records` table, dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registrar.db'}"
        drop = None
    else:
        ours = os.environ.get("DATABASE_URL", "")
        if not ours.startswith("postgresql"):
            pytest.skip("the PostgreSQL registrar runs when the tests run on PostgreSQL")
        name = f"registrar_src_{secrets.token_hex(4)}"
        admin = create_engine(ours.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = ours.rsplit("/", 1)[0] + "/" + name

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()

    engine = create_engine(url)
    columns = ", ".join(
        f"{name} TIMESTAMP" if name == "updated_at" else f"{name} VARCHAR(64)" for name in COLUMNS
    )
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE registrar_records ({columns}, deleted INTEGER DEFAULT 0)"))
    engine.dispose()
    yield url
    if drop:
        drop()


class Registrar:
    """The registrar's side: rows written as its own system would."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def put(self, *rows: dict, deleted: int = 0) -> None:
        names = [*COLUMNS, "deleted"]
        with self.engine.begin() as conn:
            for values in rows:
                conn.execute(
                    text("DELETE FROM registrar_records WHERE student_no = :n AND source = :s"),
                    {"n": values["student_no"], "s": values["source"]},
                )
                stamp = datetime.fromisoformat(values["updated_at"])
                conn.execute(
                    text(
                        f"INSERT INTO registrar_records ({', '.join(names)}) "
                        f"VALUES ({', '.join(':' + n for n in names)})"
                    ),
                    {**values, "updated_at": stamp, "deleted": deleted},
                )

    def rename(self, old: str, new: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


@pytest.fixture
def rt(app):
    return app.extensions["gradcert"]


@pytest.fixture
def registrar(source_url):
    side = Registrar(source_url)
    yield side
    side.engine.dispose()


@pytest.fixture
def source(source_url):
    src = RegistrarSource(source_url, "registrar_records")
    yield src
    src.close()


def run(rt, source, kind=SyncKind.INCREMENTAL, batch=2, now=None):
    return sync(rt.sessions, rt.domain.cipher, source, kind, batch=batch, now=now)


def stored(rt, no):
    with rt.sessions() as db:
        return db.scalar(select(Diploma).join(Student).where(Student.student_no == no))


def count_students(rt) -> int:
    with rt.sessions() as db:
        return db.scalar(select(func.count()).select_from(Student))


def state(rt) -> RegistrarSync:
    with rt.sessions() as db:
        return current(db)


T0 = "2026-06-01 10:00:00"


def test_first_full_pass_reads_every_row_in_batches_even_when_all_share_one_timestamp(
    rt, registrar, source
):
    registrar.put(*(row(f"S{i}", i, updated_at=T0) for i in range(1, 6)))
    report = run(rt, source, SyncKind.FULL)
    assert (report.rows, report.batches, report.added) == (5, 3, 5)
    assert count_students(rt) == 5 and stored(rt, "S5").major == "计算机科学与技术"
    after = state(rt)
    assert after.last_full_at is not None and after.full_mark is None and after.mark is not None
    assert after.last_error is None and "added 5" in after.last_summary
    again = run(rt, source)  # nothing changed since: the incremental pass reads nothing
    assert (again.rows, again.added, again.changed) == (0, 0, 0)
    full_again = run(rt, source, SyncKind.FULL)  # idempotent: every row unchanged
    assert (full_again.rows, full_again.unchanged, full_again.added) == (5, 5, 0)


def test_incremental_pass_after_changes_reads_only_the_changed_rows(rt, registrar, source):
    registrar.put(*(row(f"S{i}", i, updated_at=T0) for i in range(1, 4)))
    run(rt, source)
    registrar.put(row("S2", 2, major="软件技术", updated_at="2026-06-02 09:00:00"))
    registrar.put(row("S9", 9, updated_at="2026-06-02 09:00:00"))  # the same second: a tie
    registrar.put(row("S4", 4, updated_at="2026-06-02 09:00:00"))
    report = run(rt, source)
    assert (report.rows, report.changed, report.added) == (3, 1, 2)
    assert stored(rt, "S2").major == "软件技术" and count_students(rt) == 5
    assert run(rt, source).rows == 0


def test_a_deletion_revokes_the_diploma_and_its_live_certificates(rt, registrar, source, app):
    from bot.diploma.certificates import issue

    registrar.put(row("S1", 1, updated_at=T0), row("S2", 2, updated_at=T0))
    run(rt, source)
    with rt.sessions() as db:
        diploma = db.scalar(select(Diploma).join(Student).where(Student.student_no == "S1"))
        cert = issue(db, rt.domain.keyring, diploma.student, diploma, None, 30, "示范学院")
        db.commit()
        code = cert.code
    registrar.put(row("S1", 1, updated_at="2026-06-03 08:00:00"), deleted=1)
    report = run(rt, source)
    assert (report.rows, report.deleted, report.certificates_revoked) == (1, 1, 1)
    assert stored(rt, "S1").status == DiplomaStatus.REVOKED
    assert stored(rt, "S2").status == DiplomaStatus.VALID
    with rt.sessions() as db:
        from models import Certificate

        assert db.scalar(select(Certificate).where(Certificate.code == code)).revoked_at
    # the registrar restores the record later: the newer row makes it valid again
    registrar.put(row("S1", 1, updated_at="2026-06-04 08:00:00"))
    assert run(rt, source).changed == 1 and stored(rt, "S1").status == DiplomaStatus.VALID


def test_main_campus_is_master_and_a_newer_timestamp_wins_within_a_source(rt, registrar, source):
    registrar.put(row("S1", 1, updated_at=T0))  # main
    registrar.put(row("S2", 2, campus="east", source="east", updated_at="2026-06-01 11:00:00"))
    run(rt, source)
    # a newer campus row for a main record loses
    late_campus = row("S1", 1, major="园艺", campus="east", source="east")
    registrar.put({**late_campus, "updated_at": "2026-07-01 08:00:00"})
    report = run(rt, source)
    assert (report.rows, report.superseded, report.changed) == (1, 1, 0)
    assert stored(rt, "S1").major == "计算机科学与技术" and stored(rt, "S1").source == "main"
    # the main campus's row for the campus record wins although older; it arrives late (replicated
    # with its own, older timestamp), behind the mark: the next full pass reads it
    registrar.put(row("S2", 2, major="护理", updated_at="2026-06-01 10:30:00"))
    assert run(rt, source).rows == 0
    full = run(rt, source, SyncKind.FULL)
    # S2 changes by main's row; both campus rows lose (S1's and S2's own, now outranked)
    assert (full.rows, full.changed, full.superseded, full.unchanged) == (4, 1, 2, 1)
    assert stored(rt, "S2").major == "护理" and stored(rt, "S2").source == "main"
    # within the campus source, the newer row wins
    registrar.put(row("S3", 3, campus="east", source="east", updated_at="2026-07-02 08:00:00"))
    run(rt, source)
    newer = row("S3", 3, major="旅游管理", campus="east", source="east")
    registrar.put({**newer, "updated_at": "2026-07-03 08:00:00"})
    assert run(rt, source).changed == 1 and stored(rt, "S3").major == "旅游管理"


def test_refused_rows_are_kept_masked_until_the_registrar_corrects_them(rt, registrar, source):
    bad_id = ident(7)[:-1] + ("0" if ident(7)[-1] != "0" else "1")
    registrar.put(row("S7", 7, id_number=bad_id, updated_at=T0), row("S8", 8, updated_at=T0))
    report = run(rt, source)
    assert (report.refused, report.added) == (1, 1)
    with rt.sessions() as db:
        kept, total = refusals(db)
    assert total == 1 and kept[0].student_no == "S7" and "校验位错误" in kept[0].reason
    assert bad_id not in kept[0].reason
    registrar.put(row("S7", 7, updated_at="2026-06-02 08:00:00"))
    assert run(rt, source).added == 1
    with rt.sessions() as db:
        assert refusals(db) == ([], 0)


class FailingOnce(RegistrarSource):
    """The registrar's table goes away after the first batch (as a maintenance window would)."""

    def __init__(self, url: str, registrar: Registrar) -> None:
        super().__init__(url, "registrar_records")
        self.registrar, self.calls = registrar, 0

    def rows_after(self, mark, limit):
        self.calls += 1
        if self.calls == 2:
            self.registrar.rename("registrar_records", "registrar_records_away")
        return super().rows_after(mark, limit)


def test_a_failure_half_way_is_recorded_and_the_next_pass_resumes_without_duplicates(
    rt, registrar, source_url
):
    registrar.put(*(row(f"S{i}", i, updated_at=f"2026-06-01 10:0{i}:00") for i in range(1, 6)))
    failing = FailingOnce(source_url, registrar)
    with pytest.raises((OperationalError, ProgrammingError)):  # SQLite, PostgreSQL
        run(rt, failing, SyncKind.FULL)
    failing.close()
    half = state(rt)
    assert half.last_error and half.full_mark and half.last_full_at is None
    assert count_students(rt) == 2  # the first batch is committed, the second never read
    registrar.rename("registrar_records_away", "registrar_records")
    resumed = RegistrarSource(source_url, "registrar_records")
    try:
        report = run(rt, resumed, SyncKind.FULL)
    finally:
        resumed.close()
    assert (report.rows, report.added) == (3, 3)  # from the mark on: no row twice
    assert count_students(rt) == 5
    done = state(rt)
    assert done.last_error is None and done.full_mark is None and done.last_full_at is not None


def test_a_query_without_the_import_columns_is_refused_by_name(rt, registrar, source_url):
    registrar.put(row("S1", 1, updated_at=T0))
    narrow = RegistrarSource(
        source_url, "SELECT student_no, source, updated_at FROM registrar_records"
    )
    try:
        with pytest.raises(SyncConfigError, match="lacks column"):
            run(rt, narrow)
    finally:
        narrow.close()
    assert "lacks column" in state(rt).last_error and count_students(rt) == 0


# -- the schedule ---------------------------------------------------------------------------------
def at(local: str) -> datetime:
    """A college-time moment as UTC."""
    return (datetime.fromisoformat(local) - timedelta(hours=8)).replace(tzinfo=UTC)


def test_the_full_pass_is_due_from_20_00_college_time_once_a_day():
    fresh = RegistrarSync(name="registrar")
    assert due(None, at("2026-06-01 19:59"), 10, "20:00") is SyncKind.INCREMENTAL
    assert due(None, at("2026-06-01 20:00"), 10, "20:00") is SyncKind.FULL
    fresh.last_run_at = at("2026-06-01 19:55")
    assert due(fresh, at("2026-06-01 19:59"), 10, "20:00") is None  # ran 4 minutes ago
    assert due(fresh, at("2026-06-01 20:01"), 10, "20:00") is SyncKind.FULL
    fresh.last_full_at = fresh.last_run_at = at("2026-06-01 20:01")
    assert due(fresh, at("2026-06-01 20:05"), 10, "20:00") is None
    assert due(fresh, at("2026-06-01 20:12"), 10, "20:00") is SyncKind.INCREMENTAL
    assert due(fresh, at("2026-06-02 08:00"), 10, "20:00") is SyncKind.INCREMENTAL
    assert due(fresh, at("2026-06-02 20:00"), 10, "20:00") is SyncKind.FULL
    assert due(fresh, at("2026-06-01 23:00"), 0, "20:00") is None  # 0: the daily pass only
    fresh.full_mark = '["v", "x", "S1", "main"]'  # a full pass stopped half-way: resumed first
    fresh.last_run_at = at("2026-06-02 07:00")
    assert due(fresh, at("2026-06-02 07:11"), 10, "20:00") is SyncKind.FULL
    assert due(fresh, at("2026-06-02 07:05"), 0, "20:00") is None  # retried every 10 minutes
    assert due(fresh, at("2026-06-02 07:10"), 0, "20:00") is SyncKind.FULL


def test_the_upkeep_job_runs_the_due_pass_once_at_a_time(make_app, registrar, source_url):
    from handlers.jobs import sync_registrar

    app = make_app(REGISTRAR_URL=source_url, REGISTRAR_QUERY="registrar_records")
    rt = app.extensions["gradcert"]
    registrar.put(*(row(f"S{i}", i, updated_at=T0) for i in range(1, 4)))
    rt.domain.clock = lambda: at("2026-06-01 20:00")
    with app.app_context():
        first = sync_registrar()
        assert first.kind is SyncKind.FULL and first.added == 3
        assert sync_registrar() is None  # nothing due a moment later
        rt.domain.clock = lambda: at("2026-06-01 20:30")
        rt.redis.set("gc:registrar:sync", "other", ex=60)  # another worker holds the pass
        assert sync_registrar() is None
        rt.redis.delete("gc:registrar:sync")
        registrar.put(row("S4", 4, updated_at="2026-06-01 20:10:00"))
        later = sync_registrar()
        assert later.kind is SyncKind.INCREMENTAL and later.added == 1
    with rt.sessions() as db:
        assert lag(current(db), at("2026-06-01 20:40")) == timedelta(minutes=10)
    assert make_app().extensions["gradcert"].config["REGISTRAR_URL"] == ""
    with make_app().app_context():
        assert sync_registrar() is None  # not configured: nothing to do


def test_sync_command(make_app, registrar, source_url):
    from handlers.cli import sync_command

    registrar.put(row("S1", 1, updated_at=T0))
    app = make_app(REGISTRAR_URL=source_url, REGISTRAR_QUERY="registrar_records")
    with app.app_context():
        first = CliRunner().invoke(sync_command, [])
        full = CliRunner().invoke(sync_command, ["--full"])
    assert (
        first.exit_code == 0
        and "incremental pass: 1 rows" in first.output
        and "added 1" in first.output
    )
    assert (
        full.exit_code == 0 and "full pass: 1 rows" in full.output and "unchanged 1" in full.output
    )
    with make_app().app_context():
        off = CliRunner().invoke(sync_command, [])
    assert off.exit_code == 2 and "REGISTRAR_URL" in off.output


def test_the_console_warns_when_no_pass_has_finished_for_three_intervals():
    from bot.platform.registrar_sync import is_stale

    state = RegistrarSync(name="registrar", last_success_at=at("2026-06-01 10:00"))
    assert not is_stale(None, at("2026-06-01 10:00"), 10)  # never run: the page says so instead
    assert not is_stale(state, at("2026-06-01 10:29"), 10)
    assert is_stale(state, at("2026-06-01 10:31"), 10)
    assert not is_stale(state, at("2026-06-02 10:59"), 0)  # the daily pass only
    assert is_stale(state, at("2026-06-02 11:01"), 0)


def test_the_batch_query_takes_each_databases_own_form():
    """The registrar's database is often Oracle (GoldenGate): no LIMIT there."""
    from sqlalchemy.dialects import mssql, oracle, postgresql

    source = RegistrarSource("sqlite://", "gradcert_export")
    try:
        mark = (datetime(2026, 6, 1, 10), "S1", "main")
        shown = {
            name: str(source.batch(mark, 500).compile(dialect=dialect))
            for name, dialect in (
                ("oracle", oracle.dialect()),
                ("postgresql", postgresql.dialect()),
                ("mssql", mssql.dialect()),
            )
        }
    finally:
        source.close()
    assert "FETCH FIRST" in shown["oracle"] and "LIMIT" not in shown["oracle"]
    assert "LIMIT" in shown["postgresql"] and "TOP" in shown["mssql"]
    for sql in shown.values():
        assert "FROM (SELECT * FROM gradcert_export)" in sql
        assert "ORDER BY registrar_rows.updated_at, registrar_rows.student_no" in sql


def test_a_certificate_number_used_twice_is_refused_naming_the_other_student(rt, registrar, source):
    registrar.put(row("S1", 1, certificate_no="C100", updated_at=T0))
    registrar.put(row("S2", 2, certificate_no="C100", updated_at=T0))
    report = run(rt, source, batch=10)
    assert (report.added, report.refused) == (1, 1)
    with rt.sessions() as db:
        [kept], _ = refusals(db)
    assert kept.student_no == "S2" and "student_no S1" in kept.reason


def test_the_workers_upkeep_runs_the_due_pass_and_survives_a_broken_registrar(
    make_app, registrar, source_url, caplog
):
    import time as clock

    from handlers.jobs import upkeep_tick

    app = make_app(REGISTRAR_URL=source_url, REGISTRAR_QUERY="registrar_records")
    rt = app.extensions["gradcert"]
    registrar.put(row("S1", 1, updated_at=T0))
    rt.domain.clock = lambda: at("2026-06-01 20:00")
    with app.app_context():
        recent = clock.monotonic()
        assert upkeep_tick(recent) == recent  # the sweep is not due, the 20:00 pass is
        assert stored(rt, "S1") is not None and state(rt).last_full_at is not None
        registrar.rename("registrar_records", "gone")
        rt.domain.clock = lambda: at("2026-06-01 20:30")
        long_ago = recent - 601
        assert upkeep_tick(long_ago) > long_ago  # the sweep ran; the failed pass is logged
    assert "registrar sync failed" in caplog.text and state(rt).last_error
