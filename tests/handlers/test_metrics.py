"""/metrics: Prometheus's text format (parsed with prometheus_client's own parser), requests by
route and status, latency, the engine's lock waits and deadline overruns, SMS by provider, the
queue; open to loopback, the allowed addresses and the bearer token only."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Chat


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    res = client.get("/metrics", **kwargs)
    assert res.status_code == 200, res.status_code
    assert res.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(res.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_latency_lock_waits_sms_and_queue(app, demo):
    client = app.test_client()
    before = scrape(client)
    chat = Chat(app)
    no, name, id_number, phone, _ = demo["李小红"]
    for text in ("1", "同意", name, id_number, no):
        chat.say("u-metrics", text)
    rt = app.extensions["gradcert"]
    after_queueing = scrape(client)
    assert value(after_queueing, "gradcert_queue_jobs", state="queued") == rt.queue.count == 1
    chat.run_jobs()
    after = scrape(client)

    route = {"route": "/wechat", "status": "200"}
    assert (
        value(after, "gradcert_http_requests_total", **route)
        - value(before, "gradcert_http_requests_total", **route)
        == 5
    )
    assert (
        value(after, "gradcert_http_request_duration_seconds_count", route="/wechat")
        - value(before, "gradcert_http_request_duration_seconds_count", route="/wechat")
        == 5
    )
    assert (
        value(after, "gradcert_http_request_duration_seconds_bucket", route="/wechat", le="+Inf")
        >= 5
    )
    assert (
        value(after, "gradcert_engine_lock_wait_seconds_count")
        - value(before, "gradcert_engine_lock_wait_seconds_count")
        == 5
    )
    sent = {"provider": "console", "outcome": "sent"}
    assert (
        value(after, "gradcert_sms_total", **sent) - value(before, "gradcert_sms_total", **sent)
        == 1
    )
    assert value(after, "gradcert_queue_jobs", state="queued") == 0
    assert value(after, "gradcert_queue_jobs", state="failed") == 0
    assert ("gradcert_engine_deadline_overruns_total", ()) in after


def test_a_reply_past_the_deadline_is_counted(make_app, monkeypatch):
    from bot import router

    app = make_app(GRADCERT_DEADLINE=0.2)
    real_route = router.route

    def slow(conv, msg, ctx):
        time.sleep(0.6)
        return real_route(conv, msg, ctx)

    rt = app.extensions["gradcert"]
    monkeypatch.setattr(rt.engine, "router", slow)
    client = app.test_client()
    before = value(scrape(client), "gradcert_engine_deadline_overruns_total")
    chat = Chat(app)
    res = chat.post(*chat.sim.text("u-late", "0"))
    assert res.status_code == 200
    deadline = time.time() + 5
    while time.time() < deadline and rt.queue.count == 0:
        time.sleep(0.05)
    assert value(scrape(client), "gradcert_engine_deadline_overruns_total") == before + 1


@pytest.mark.parametrize(
    "config, remote, headers, allowed",
    [
        ({}, "127.0.0.1", {}, True),
        ({}, "::1", {}, True),
        ({}, "198.51.100.7", {}, False),
        ({"GRADCERT_METRICS_ALLOW": "10.0.0.30, 198.51.100.0/24"}, "198.51.100.7", {}, True),
        ({"GRADCERT_METRICS_ALLOW": "10.0.0.30"}, "198.51.100.7", {}, False),
        (
            {"GRADCERT_METRICS_TOKEN": "t0ken"},
            "198.51.100.7",
            {"Authorization": "Bearer t0ken"},
            True,
        ),
        (
            {"GRADCERT_METRICS_TOKEN": "t0ken"},
            "198.51.100.7",
            {"Authorization": "Bearer nope"},
            False,
        ),
        ({}, "198.51.100.7", {"Authorization": "Bearer "}, False),
        # behind nginx on the same host: the real client counts, not nginx's loopback
        ({"TRUST_PROXY": 1}, "127.0.0.1", {"X-Forwarded-For": "198.51.100.7"}, False),
        ({"TRUST_PROXY": 1}, "127.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, True),
    ],
)
def test_who_may_read_metrics(make_app, config, remote, headers, allowed):
    client = make_app(**config).test_client()
    res = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote})
    assert res.status_code == (200 if allowed else 404)
    if allowed:
        assert b"gradcert_http_requests_total" in res.data


def test_a_lock_given_up_is_counted_with_its_wait(app):
    rt = app.extensions["gradcert"]
    client = app.test_client()
    before = scrape(client)
    assert rt.storage.acquire("{wx:app:u-held}", "first", time.time() + 1)
    assert not rt.storage.acquire("{wx:app:u-held}", "second", time.time() + 0.3)
    after = scrape(client)
    assert (
        value(after, "gradcert_engine_lock_timeouts_total")
        == value(before, "gradcert_engine_lock_timeouts_total") + 1
    )
    waited = value(after, "gradcert_engine_lock_wait_seconds_sum") - value(
        before, "gradcert_engine_lock_wait_seconds_sum"
    )
    assert 0.25 <= waited < 2
