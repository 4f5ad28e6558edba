"""Migrations run once when processes start together; `postgresql://` URLs use psycopg 3; a
production `serve` only checks that the schema is current."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from handlers.cli import cli
from models import make_engine
from models.migrate import LOCK_KEY, lock_for_migration, pending, upgrade

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_postgresql_urls_use_psycopg_3():
    engine = create_engine("postgresql://gradcert@db.internal/gradcert")
    assert engine.dialect.driver == "psycopg"


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgresql"), reason="PostgreSQL run only"
)
def test_a_postgresql_url_runs_the_service(database_url, make_app):
    assert database_url.startswith("postgresql://")  # .ci/run names no driver
    rt = make_app().extensions["gradcert"]
    assert rt.db_engine.dialect.driver == "psycopg"
    with rt.db_engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert rt.db_engine.pool.size() == 10  # a pool, not a connection per request


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgresql"), reason="PostgreSQL run only"
)
def test_a_second_migrating_transaction_waits_for_the_first(database_url):
    engine = make_engine(database_url)
    waited = []
    try:
        with engine.connect() as first:
            first.begin()
            lock_for_migration(first)

            def second() -> None:
                started = time.monotonic()
                with engine.connect() as other, other.begin():
                    lock_for_migration(other)
                    waited.append(time.monotonic() - started)

            thread = threading.Thread(target=second)
            thread.start()
            time.sleep(0.5)
            assert not waited  # still waiting for the first host
            held = first.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"),
                {"k": LOCK_KEY & 0xFFFFFFFF},
            ).scalar()
            assert held >= 1
            first.commit()
            thread.join(10)
        assert waited and waited[0] >= 0.5
    finally:
        engine.dispose()


def test_processes_migrating_one_sqlite_file_together_all_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = f"from models.migrate import upgrade; upgrade({url!r})"
    runs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in runs]
    assert [p.returncode for p in runs] == [0, 0, 0], errors
    current, head = pending(url)
    assert current == head is not None


def test_pending_tells_a_schema_behind_the_code(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    from alembic import command

    from models.migrate import alembic_config

    command.upgrade(alembic_config(url), "0010")
    current, head = pending(url)
    assert current == "0010" and head != current
    upgrade(url)
    assert pending(url) == (head, head)


def test_production_serve_refuses_a_schema_that_is_not_current(make_app, tmp_path):
    app = make_app()
    app.config.update(GRADCERT_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}")
    result = CliRunner().invoke(cli, ["serve"], obj=_script_info(app))
    assert result.exit_code == 2
    assert "schema is at revision (none)" in result.output
    assert "run `gradcert db-upgrade` once" in result.output
    assert not (tmp_path / "e.db").exists() or pending(app.config["DATABASE_URL"])[0] is None


def _script_info(app):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)
