"""The registrar's database as the sync reads it: a read-only connection, the configured view or
query, batches in keyset order (updated_at, student_no, source), and marks kept as the source's
own values (bot.platform.registrar_sync applies what it reads)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import (
    and_,
    bindparam,
    column,
    create_engine,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.types import NullType

from bot.platform import registrar

KEY = ("updated_at", "student_no", "source")
UNDATED_SHOWN = 200


class SyncConfigError(ValueError):
    """The registrar's view or query cannot be used (a column is missing, the SQL is refused)."""


class RegistrarSource:
    """The registrar's database, read through `query` (a view name or a SELECT)."""

    def __init__(self, url: str, query: str, engine: Engine | None = None) -> None:
        self.engine = engine or create_engine(url, pool_pre_ping=True, hide_parameters=True)
        query = query.strip().rstrip(";")
        self.query = query if " " in query else f"SELECT * FROM {query}"
        self.checked = False

    def rows_after(self, mark: tuple | None, limit: int) -> list[Mapping]:
        """Up to `limit` rows after `mark` in keyset order (the first rows when None)."""
        stmt = self.batch(mark, limit)
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            result = conn.execute(stmt)
            found = [dict(row) for row in result.mappings()]
            if not self.checked:
                self._check(list(result.keys()))
            return found

    def batch(self, mark: tuple | None, limit: int):
        """The SELECT of one batch, built by SQLAlchemy so that LIMIT takes the source's own form
        (Oracle: FETCH FIRST); the mark is bound as the source gave it (no type processing:
        SQLite text stays text, so ties compare equal)."""
        rows = self._rows()
        stmt = select(literal_column("*")).select_from(rows).where(rows.c.updated_at.is_not(None))
        if mark is not None:
            at, no, source = (
                bindparam(name, value, type_=NullType()) for name, value in zip("uns", mark)
            )
            stmt = stmt.where(
                or_(
                    rows.c.updated_at > at,
                    and_(rows.c.updated_at == at, rows.c.student_no > no),
                    and_(rows.c.updated_at == at, rows.c.student_no == no, rows.c.source > source),
                )
            )
        return stmt.order_by(rows.c.updated_at, rows.c.student_no, rows.c.source).limit(limit)

    def undated(self, limit: int = UNDATED_SHOWN) -> list[Mapping]:
        """Rows without updated_at, which no pass can order (reported as refused)."""
        rows = self._rows()
        stmt = (
            select(rows.c.student_no, rows.c.source)
            .where(rows.c.updated_at.is_(None))
            .order_by(rows.c.student_no)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(stmt).mappings()]

    def _rows(self):
        """The configured query as a subquery whose key columns SQLAlchemy knows."""
        key = (column("updated_at"), column("student_no"), column("source"))
        return text(self.query).columns(*key).subquery("registrar_rows")

    def close(self) -> None:
        """Give the connections back."""
        self.engine.dispose()

    def _check(self, columns: list[str]) -> None:
        if missing := [name for name in registrar.COLUMNS if name not in columns]:
            raise SyncConfigError(f"the registrar query lacks column(s): {', '.join(missing)}")
        self.checked = True


def encode_mark(mark: tuple) -> str:
    """A mark (the key of a batch's last row) as JSON, keeping the type of the updated_at the source gave back."""
    at = mark[0]
    kind = "dt" if isinstance(at, datetime) else "d" if isinstance(at, date) else "v"
    value = at.isoformat() if kind != "v" else at
    return json.dumps([kind, value, mark[1], mark[2]], ensure_ascii=False)


def decode_mark(stored: str | None) -> tuple | None:
    if not stored:
        return None
    kind, value, student_no, source = json.loads(stored)
    if kind == "dt":
        value = datetime.fromisoformat(value)
    elif kind == "d":
        value = date.fromisoformat(value)
    return value, student_no, source
