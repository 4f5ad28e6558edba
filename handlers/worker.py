"""The RQ worker of gradcert: each job runs with the request id of the request that queued it
(`job.meta["request_id"]`, set by `handlers.jobs.enqueue`), says when it starts and ends, and a
failure is counted by function (`gradcert_job_failures_total`).

Retries wait in RQ's scheduled job registry until RQ's scheduler puts them back. RQ runs that
scheduler in a forked process and rebuilds the Redis client there from the client's class and
keyword arguments: fragile for a Sentinel-managed client (rq/rq#2379), and a fork of this
multi-threaded process (the upkeep thread, the engine's pool) is what POSIX advises against. Here
it runs on a thread of the worker, with the worker's own client. One scheduler per queue holds
RQ's lock; the others stand by (several workers and hosts are fine)."""

from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.job import Job
from rq.queue import Queue
from rq.scheduler import RQScheduler

from handlers import metrics
from handlers.logs import request_id

log = logging.getLogger("gradcert.jobs")


class ThreadScheduler(RQScheduler):
    """RQ's scheduler on a thread, using the client it was given (also a Sentinel one)."""

    def __init__(self, queues, connection, **kwargs) -> None:
        super().__init__(queues, connection=connection, **kwargs)
        self._client = connection
        self._stopping = threading.Event()

    @property
    def connection(self):
        return self._client

    def start(self) -> threading.Thread:
        """Run the scheduling loop on a daemon thread (RQ forks a process here)."""
        self._status = self.Status.STARTED
        self._process = threading.Thread(target=self._loop, name="rq-scheduler", daemon=True)
        self._process.start()
        return self._process

    def _loop(self) -> None:
        self.register_birth()
        while not self._stopping.is_set():
            try:
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
            except RedisError:
                log.warning("scheduler: Redis unavailable; trying again")
            self._stopping.wait(self.interval)
        try:
            self.stop()  # releases the locks for another worker's scheduler
        except RedisError:
            log.warning("scheduler: could not release its locks (they expire by themselves)")

    def request_stop(self) -> None:
        """End the loop after its current round."""
        self._stopping.set()


class Worker(SimpleWorker):
    """SimpleWorker (no fork: the app context and its connections stay warm) with request ids
    and the scheduler on a thread."""

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

    def _start_scheduler(self, burst: bool = False, *args, **kwargs) -> None:
        """`work(with_scheduler=True)`: due retries go back to their queue (once, in burst mode)."""
        self.scheduler = ThreadScheduler(
            self.queues, connection=self.connection, serializer=self.serializer
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return  # another worker schedules; run_maintenance_tasks tries again later
        if burst:
            try:
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
            return
        self.scheduler.start()

    def stop_scheduler(self) -> None:
        """Stop the scheduler thread and let its locks go."""
        if isinstance(self.scheduler, ThreadScheduler):
            self.scheduler.request_stop()
            if self.scheduler._process is not None:
                self.scheduler._process.join(timeout=5)
