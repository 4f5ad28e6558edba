"""Jobs: push and notify jobs are retried with backoff, SMS codes are not; a failure is counted;
the worker puts scheduled retries back on time (with_scheduler)."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY
from rq import Retry
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from bot.appeals.notices import tell_followers
from bot.binding.rules import send_otp_sms
from bot.core import effects
from bot.core.messages import Effect
from handlers import jobs
from handlers.worker import ThreadScheduler, Worker


def unreachable_push(note: str) -> None:
    """A push whose API is down."""
    raise ConnectionError(f"push API down ({note})")


def test_push_and_notify_effects_are_queued_with_retries_sms_codes_without(app):
    rt = app.extensions["gradcert"]
    with app.app_context():
        rt.run_effects(
            None,
            [
                Effect(effects.push_accounts, {"account_ids": [], "text": "x"}),
                Effect(tell_followers, {"appeal_id": 1, "note": None, "event_id": None}),
                Effect(send_otp_sms, {"student_id": 1}),
            ],
        )
    by_effect = {job.args[0]: job for job in rt.queue.get_jobs()}
    for action in (effects.push_accounts, tell_followers):
        assert by_effect[action].retries_left == 3
        assert by_effect[action].retry_intervals == [10, 60, 300]
    assert not by_effect[send_otp_sms].retries_left


def test_a_failing_push_waits_for_its_retry_and_then_fails_for_good(app):
    rt = app.extensions["gradcert"]
    before = (
        REGISTRY.get_sample_value("gradcert_job_failures_total", {"function": "unreachable_push"})
        or 0
    )
    job = jobs.enqueue(rt.queue, unreachable_push, "n1", retry=True)
    with app.app_context():
        Worker([rt.queue], connection=rt.redis).work(burst=True)
    job.refresh()
    assert job.get_status().value == "scheduled" and job.retries_left == 2
    assert job.id in ScheduledJobRegistry(queue=rt.queue).get_job_ids()
    assert FailedJobRegistry(queue=rt.queue).count == 0

    plain = jobs.enqueue(rt.queue, unreachable_push, "n2")
    with app.app_context():
        Worker([rt.queue], connection=rt.redis).work(burst=True)
    assert FailedJobRegistry(queue=rt.queue).get_job_ids() == [plain.id]
    after = REGISTRY.get_sample_value(
        "gradcert_job_failures_total", {"function": "unreachable_push"}
    )
    assert after == before + 2


def flaky_push(key: str) -> str:
    """Fails on its first run, succeeds after."""
    from handlers.current import runtime

    if runtime().redis.incr(key) == 1:
        raise ConnectionError("push API hiccup")
    return "sent"


def test_the_workers_scheduler_puts_a_due_retry_back_and_the_job_succeeds(app):
    rt = app.extensions["gradcert"]
    job = rt.queue.enqueue(flaky_push, "test:flaky", retry=Retry(max=1, interval=1))
    worker = Worker([rt.queue], connection=rt.redis)
    started = time.monotonic()
    with app.app_context():
        worker.work(burst=False, with_scheduler=True, max_idle_time=4)
    job.refresh()
    assert job.get_status().value == "finished" and job.return_value() == "sent"
    assert time.monotonic() - started < 15
    assert isinstance(worker.scheduler, ThreadScheduler)
    assert not worker.scheduler._process.is_alive()  # stopped with the worker
    assert not rt.redis.exists(ThreadScheduler.get_locking_key(rt.queue.name))  # lock let go
