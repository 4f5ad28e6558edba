"""Faults for in-process tests: the database made unreachable for real (the driver's own error on
connect), then back, in a running app without a restart. tests/system/test_faults.py does the same
to real processes."""

from __future__ import annotations

from contextlib import contextmanager

from models import make_engine


@contextmanager
def database_unreachable(app):
    """Every new unit of work of `app` connects to a database that cannot be opened."""
    rt = app.extensions["gradcert"]
    dead = make_engine("sqlite:////nonexistent-gradcert-dir/gone.db")
    rt.sessions.configure(bind=dead)
    try:
        yield
    finally:
        rt.sessions.configure(bind=rt.db_engine)
        dead.dispose()
