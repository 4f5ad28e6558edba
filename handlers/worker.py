"""The RQ worker of gradcert: each job runs with the request id of the request that queued it
(`job.meta["request_id"]`, set by `handlers.jobs.enqueue`), says when it starts and ends, and a
failure is counted by function (`gradcert_jobs_failed_total`)."""

from __future__ import annotations

import logging
import time

from rq import SimpleWorker
from rq.job import Job
from rq.queue import Queue

from handlers import metrics
from handlers.logs import request_id

log = logging.getLogger("gradcert.jobs")


class Worker(SimpleWorker):
    """SimpleWorker (no fork: the app context and its connections stay warm) with request ids."""

    def execute_job(self, job: Job, queue: Queue):
        token = request_id.set((job.meta or {}).get("request_id") or f"job-{job.id}")
        started = time.perf_counter()
        log.info("job %s %s started", job.id, job.func_name, extra={"job_id": job.id})
        try:
            return super().execute_job(job, queue)
        finally:
            log.info(
                "job %s %s ended: %s",
                job.id,
                job.func_name,
                getattr(job.get_status(refresh=False), "value", "unknown"),
                extra={
                    "job_id": job.id,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id.reset(token)

    def handle_job_failure(self, job: Job, queue: Queue, *args, **kwargs):
        metrics.JOBS_FAILED.labels(function=job.func_name.rsplit(".", 1)[-1]).inc()
        return super().handle_job_failure(job, queue, *args, **kwargs)
