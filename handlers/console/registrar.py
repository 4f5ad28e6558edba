"""The registrar sync's status page for directors (nested under the `console` blueprint): the
last pass, how old our copy may be, a full pass under way, the last error, and the refused rows
still waiting for the registrar to correct them."""

from __future__ import annotations

from flask import Blueprint

from bot.platform import registrar_sync
from bot.platform import staff_auth as staff_service
from handlers.console.base import record, render, requires, runtime

bp = Blueprint("registrar", __name__)


@bp.get("/registrar")
@requires(staff_service.Permission.REGISTRAR)
def status():
    """The status of the sync and the refused rows (newest first), audited as a view."""
    rt = runtime()
    now = rt.domain.clock()
    with rt.unit() as work:
        state = registrar_sync.current(work.db)
        refused, total = registrar_sync.refusals(work.db)
        record(work.db, "view_registrar", detail=f"refused={total}")
    lag = registrar_sync.lag(state, now)
    return render(
        "registrar.html",
        state=state,
        configured=bool(rt.config.get("REGISTRAR_URL")),
        every=rt.config.get("REGISTRAR_SYNC_MINUTES"),
        full_at=rt.config.get("REGISTRAR_FULL_AT"),
        lag_minutes=None if lag is None else int(lag.total_seconds() // 60),
        stale=registrar_sync.is_stale(state, now, int(rt.config["REGISTRAR_SYNC_MINUTES"])),
        refused=refused,
        total=total,
    )
