"""Liveness and readiness: `/healthz` (the process answers), `/readyz` (database and Redis)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from handlers.current import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database and Redis answer."""
    rt = runtime()
    checks = {}
    try:
        with rt.db_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", **checks), (200 if ready else 503)
