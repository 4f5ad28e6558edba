"""The failed jobs page of the staff console (directors): RQ's failed job registry, newest first:
when, which function, the error in one line with personal data masked, and a retry button. The
job's arguments are never shown (they may name accounts); retrying is audited."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, url_for
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from bot.platform.staff_auth import Permission
from handlers.console.base import record, render, requires, runtime
from handlers.error_reports import mask

bp = Blueprint("jobs", __name__)
SHOWN = 100
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class FailedJob:
    """One failed job as the page shows it."""

    id: str
    function: str
    failed_at: datetime | None
    error: str


def summary(exc_info: str | None) -> str:
    """The last line of a traceback (the exception and its message), masked, at most 200 chars."""
    lines = [line.strip() for line in (exc_info or "").splitlines() if line.strip()]
    return mask(lines[-1])[:200] if lines else "（无错误信息）"


def failed_jobs(queue, limit: int = SHOWN) -> tuple[list[FailedJob], int]:
    """The newest failed jobs of `queue` (at most `limit`) and how many there are in all."""
    registry = FailedJobRegistry(queue=queue)
    ids = registry.get_job_ids(0, limit - 1, desc=True)
    shown = []
    for job in Job.fetch_many(ids, connection=queue.connection):
        if job is None:
            continue
        shown.append(
            FailedJob(
                id=job.id,
                function=(job.func_name or "?").rsplit(".", 1)[-1],
                failed_at=job.ended_at,
                error=summary(job.exc_info),
            )
        )
    return shown, registry.count


@bp.get("/jobs")
@requires(Permission.MANAGE_JOBS)
def failed():
    """Failed jobs, newest first."""
    jobs, total = failed_jobs(runtime().queue)
    return render("jobs.html", jobs=jobs, total=total)


@bp.post("/jobs/<job_id>/retry")
@requires(Permission.MANAGE_JOBS)
def retry(job_id: str):
    """Put a failed job back on the queue."""
    if not JOB_ID.fullmatch(job_id):
        abort(404)
    queue = runtime().queue
    try:
        job = FailedJobRegistry(queue=queue).requeue(job_id)
    except (InvalidJobOperation, NoSuchJobError):
        flash("该任务已不在失败列表中（可能已被重试或已过期）。")
        return redirect(url_for("console.jobs.failed"), 303)
    function = (job.func_name or "?").rsplit(".", 1)[-1]
    with runtime().unit() as work:
        record(work.db, "job_retry", detail=f"{function} {job.id}")
    flash(f"已重新排队：{function}")
    return redirect(url_for("console.jobs.failed"), 303)
