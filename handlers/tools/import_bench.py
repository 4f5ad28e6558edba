"""`python -m handlers.tools.import_bench [--rows 50000] [--database-url URL]`: time the registrar
import on a fresh database (SQLite by default) with a generated CSV of valid rows (main and campus
sources, some students in both), once for the first import and once for a re-import, which must
add and change nothing."""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from bot.platform.crypto import PiiCipher, parse_keys
from bot.platform.idcard import check_character
from bot.platform.registrar import COLUMNS, LEVELS, import_file
from models import Base, make_engine, make_session_factory
from models.migrate import upgrade

CAMPUSES = ("gy", "cd", "zg")


def _row(rng: random.Random, i: int, source: str, updated_at: str) -> dict[str, str]:
    first17 = (
        f"{rng.choice(('110105', '510821', '440306', '650102'))}{rng.randint(1985, 2005)}"
        f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    )
    enrol = 2010 + i % 12
    return {
        "student_no": f"{enrol}{i:07d}",
        "name": f"学生{i}",
        "id_number": first17 + check_character(first17),
        "phone": "" if i % 17 == 0 else f"13{i:09d}",
        "campus": source,
        "level": LEVELS[i % 3],
        "major": f"专业{i % 40}",
        "study_mode": "全日制" if i % 5 else "非全日制",
        "enrol_date": f"{enrol}-09-01",
        "grad_date": f"{enrol + 3}/06/30" if i % 7 else "",
        "leave_date": "",
        "certificate_no": "" if i % 11 == 0 else f"GC{i:09d}",
        "status": "revoked" if i % 997 == 0 else "valid",
        "updated_at": updated_at,
        "source": source,
    }


def generate(path: Path, rows: int, seed: int = 11643) -> None:
    """A valid CSV of `rows` rows: one in ten students appears a second time from another source."""
    rng = random.Random(seed)
    extra = rows // 11
    students = rows - extra
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for i in range(students):
            source = "main" if i % 3 else CAMPUSES[i % len(CAMPUSES)]
            writer.writerow(_row(rng, i, source, f"2024-0{1 + i % 9}-15 10:{i % 60:02d}:00"))
        for j in range(extra):  # the same student from the other side: main wins either way
            i = j * 10
            other = CAMPUSES[j % len(CAMPUSES)] if i % 3 else "main"
            writer.writerow(
                _row(random.Random(i), i, other, "2025-01-01 08:00:00" if i % 3 else "2023-01-01")
            )


def _empty(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def _backend_pid(engine) -> int | None:
    """The PostgreSQL server process of the pooled connection the import will reuse (local)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    return pid if os.path.exists(f"/proc/{pid}/stat") else None


def _cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a local process, 0 without one."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    """Generate, import twice, print rows/s and seconds; exit 1 if the re-import wrote anything."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--database-url", help="an empty database of its own, emptied first (default: SQLite)"
    )
    args = parser.parse_args(argv)
    cipher = PiiCipher(parse_keys("1:" + "11" * 16), b"bench-index")
    with tempfile.TemporaryDirectory(prefix="gradcert-import-bench-") as tmp:
        path = Path(tmp) / "registrar.csv"
        generate(path, args.rows)
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        _empty(url)
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        backend = _backend_pid(engine)
        reports = []
        for label in ("first import", "re-import"):
            cpu, db_cpu = time.process_time(), _cpu(backend)
            report = import_file(sessions, cipher, path)
            cpu, db_cpu = time.process_time() - cpu, _cpu(backend) - db_cpu
            reports.append(report)
            print(
                f"{label:>12}: {args.rows} rows in {report.seconds:.2f} s "
                f"({args.rows / report.seconds:,.0f} rows/s; CPU: import {cpu:.2f} s"
                + (f", database {db_cpu:.2f} s" if backend else "")
                + f") -- {report.lines()[-1]}"
            )
        engine.dispose()
    again = reports[-1]
    if again.added or again.changed or again.rejected:
        print("re-import was not a no-op", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
