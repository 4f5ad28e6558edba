"""Alembic migrations, run programmatically: `upgrade(url)` brings a database to head, once.

Several hosts (or workers) may start together: on PostgreSQL the migrating transaction first takes
a transaction-level advisory lock, so one host migrates while the others wait and then find the
schema current; on a SQLite file a lock file beside the database does the same for one machine.
`pending(url)` tells a production `serve` whether the schema is behind this version of the code.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_KEY = 0x6772616463657274 & 0x7FFFFFFFFFFFFFFF  # "gradcert": one bigint for pg_advisory locks


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at models/migrations and `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Apply every migration up to head, one process at a time."""
    with _file_lock(url):
        command.upgrade(alembic_config(url), "head")


def lock_for_migration(connection: Connection) -> None:
    """Inside the migrating transaction: wait for any other host migrating the same database."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def pending(url: str) -> tuple[str | None, str]:
    """(the database's revision, this code's head); equal when the schema is current."""
    from models import make_engine

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return current, head


@contextmanager
def _file_lock(url: str):
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        yield
        return
    lock = Path(parsed.database).with_name(Path(parsed.database).name + ".migrate-lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
