"""The failed jobs page: directors see when, which function and the error without personal data,
and put a job back on the queue (audited); clerks do not see it."""

from __future__ import annotations

from rq.registry import FailedJobRegistry

from handlers import jobs
from handlers.worker import Worker
from tests.handlers.console.test_appeals import audits, login, make_staff, post

PHONE, ID_NUMBER = "13800138000", "11010519491231002X"


def push_to_nowhere(account_id: int) -> None:
    """A job that fails with personal data in its error."""
    raise RuntimeError(f"push for {PHONE} ({ID_NUMBER}) refused: 45015")


def _fail_one(app):
    rt = app.extensions["gradcert"]
    job = jobs.enqueue(rt.queue, push_to_nowhere, 7)
    with app.app_context():
        Worker([rt.queue], connection=rt.redis).work(burst=True)
    assert FailedJobRegistry(queue=rt.queue).get_job_ids() == [job.id]
    return job


def test_directors_see_failed_jobs_without_personal_data_and_retry_them(app):
    job = _fail_one(app)
    make_staff(app, "boss", "director", "13900000009", name="李主任")
    client = app.test_client()
    assert login(client, "boss").status_code == 302
    page = client.get("/console/jobs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/console/jobs" aria-current="page"' in html and "push_to_nowhere" in html
    assert "RuntimeError: push for [redacted] ([redacted]) refused: 45015" in html
    assert PHONE not in html and ID_NUMBER not in html

    rt = app.extensions["gradcert"]
    res = post(client, f"/console/jobs/{job.id}/retry")
    assert res.status_code == 303
    assert FailedJobRegistry(queue=rt.queue).count == 0 and rt.queue.count == 1
    [row] = audits(app, "job_retry")
    assert row.actor_staff == "boss" and row.detail == f"push_to_nowhere {job.id}"
    assert "已重新排队" in client.get("/console/jobs").get_data(as_text=True)

    # a second press (the job already left the list) is told, not an error
    res = post(client, f"/console/jobs/{job.id}/retry")
    assert res.status_code == 303
    assert "已不在失败列表中" in client.get("/console/jobs").get_data(as_text=True)


def test_clerks_cannot_see_or_retry_failed_jobs(app):
    job = _fail_one(app)
    make_staff(app)
    client = app.test_client()
    assert login(client).status_code == 302
    assert client.get("/console/jobs").status_code == 403
    assert post(client, f"/console/jobs/{job.id}/retry").status_code == 403
    queue = client.get("/console/")
    assert queue.status_code == 200 and "/console/jobs" not in queue.get_data(as_text=True)


def test_retry_needs_the_csrf_token(app):
    job = _fail_one(app)
    make_staff(app, "boss", "director", "13900000009", name="李主任")
    client = app.test_client()
    login(client, "boss")
    res = client.post(f"/console/jobs/{job.id}/retry", data={"csrf_token": "forged"})
    assert res.status_code in (400, 403)
    assert FailedJobRegistry(queue=app.extensions["gradcert"].queue).count == 1
