"""Registrar imports in the browser (nested under the `console` blueprint), for directors: upload a
CSV/XLSX export, read the dry run, confirm (the import runs as an RQ job; the page follows it) or
discard, read the result. The rules are bot/platform/registrar_uploads.py; every step is audited
with the file's SM3 digest."""

from __future__ import annotations

import json
from functools import wraps

from flask import Blueprint, abort, current_app, flash, g, redirect, request, url_for
from sqlalchemy import select

from bot.platform import registrar_uploads as uploads
from handlers import jobs
from handlers.console.base import record, render, runtime
from models import ImportState, OfficeImport, StaffUser

bp = Blueprint("imports", __name__)
RECENT = 20
ONE_MB = 1024 * 1024


@bp.before_app_request
def _allow_registrar_files() -> None:
    """The upload may be larger than the service's 64 KiB body limit (set before the console's
    guard reads the form for its CSRF token)."""
    if request.endpoint == "console.imports.upload" and request.method == "POST":
        request.max_content_length = int(current_app.config["GRADCERT_IMPORT_MAX_MB"]) * ONE_MB


@bp.app_template_global("may_import")
def _may_import(user) -> bool:
    return uploads.may_import(user)


def for_directors(view):
    """403 unless the signed-in user may import registrar files."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not uploads.may_import(g.staff):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _page(error: str | None = None, status: int = 200):
    with runtime().unit() as work:
        uploads.drop_stale(work.db, runtime().domain.clock())
        rows = work.db.execute(
            select(OfficeImport, StaffUser.display_name)
            .outerjoin(StaffUser, StaffUser.id == OfficeImport.staff_id)
            .order_by(OfficeImport.id.desc())
            .limit(RECENT)
        ).all()
    limit = int(current_app.config["GRADCERT_IMPORT_MAX_MB"])
    return render(
        "imports.html",
        status,
        rows=rows,
        error=error,
        limit_mb=limit,
        import_states=uploads.STATE_NAMES,
    )


@bp.get("/imports")
@for_directors
def imports():
    """The upload form and the latest imports."""
    return _page()


@bp.post("/imports")
@for_directors
def upload():
    """Dry-run an uploaded file and show what it would do."""
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        return _page("请选择要上传的文件。", 400)
    data = sent.read()
    rt = runtime()
    with rt.unit() as work:
        try:
            item = uploads.receive(
                work.db, rt.sessions, rt.domain.cipher, g.staff, sent.filename, data
            )
        except uploads.UploadRefused as problem:
            work.rollback()
            refused = str(problem)
        else:
            refused = None
            preview = json.loads(item.preview)
            record(work.db, "registrar_upload", detail=uploads.audit_detail(item, preview))
    if refused:
        with rt.unit() as work:
            record(work.db, "registrar_upload", result="refused", detail=refused[:200])
        return _page(refused, 400)
    return redirect(url_for("console.imports.show", import_id=item.id), 303)


def _load(db, import_id: int) -> OfficeImport:
    item = db.get(OfficeImport, import_id)
    if item is None:
        abort(404)
    return item


@bp.get("/imports/<int(max=2147483647):import_id>")
@for_directors
def show(import_id: int):
    """The preview (with confirm and discard), the progress while it runs, or the result."""
    now = runtime().domain.clock()
    with runtime().unit() as work:
        item = _load(work.db, import_id)
        who = work.db.get(StaffUser, item.staff_id) if item.staff_id else None
    running = item.state in (ImportState.QUEUED, ImportState.RUNNING)
    html, status = render(
        "import.html",
        item=item,
        who=who,
        preview=json.loads(item.preview) if item.preview else None,
        result=json.loads(item.result) if item.result else None,
        running=running,
        blocked=uploads.may_confirm(item, now) if item.state is ImportState.PREVIEWED else None,
        hold_minutes=uploads.HOLD_MINUTES,
        import_states=uploads.STATE_NAMES,
    )
    return html, status, {"Refresh": "2"} if running else {}


@bp.post("/imports/<int(max=2147483647):import_id>/confirm")
@for_directors
def confirm(import_id: int):
    """Queue the import; the page then follows it."""
    rt = runtime()
    with rt.unit() as work:
        item = _load(work.db, import_id)
        blocked = uploads.may_confirm(item, rt.domain.clock())
        if blocked:
            record(work.db, "registrar_import_confirm", result="refused", detail=f"#{item.id}")
        else:
            uploads.confirm(work.db, item)
            record(work.db, "registrar_import_confirm", detail=uploads.audit_detail(item))
    if blocked:
        flash(blocked)
    else:
        rt.queue.enqueue(jobs.run_registrar_import, item.id, job_timeout=3600)
        flash("已开始导入，本页会自动刷新显示进度。")
    return redirect(url_for("console.imports.show", import_id=import_id), 303)


@bp.post("/imports/<int(max=2147483647):import_id>/discard")
@for_directors
def discard(import_id: int):
    """Drop a preview and its file."""
    with runtime().unit() as work:
        item = _load(work.db, import_id)
        if item.state is not ImportState.PREVIEWED:
            abort(400, description="这个文件已经导入或已取消。")
        uploads.discard(work.db, item)
        record(work.db, "registrar_import_discard", detail=uploads.audit_detail(item))
    flash("已取消，上传的文件已删除。")
    return redirect(url_for("console.imports.imports"), 303)
