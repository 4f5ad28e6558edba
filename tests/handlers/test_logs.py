"""Log lines: JSON off a terminal, text on one, forced by GRADCERT_LOG_FORMAT; UTC; a line per
request (every one with GRADCERT_REQUEST_LOG=all, else the failed and slow ones) carrying its
request id, which the engine's thread and the jobs it queues carry too."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from handlers import logs
from handlers.worker import Worker
from tests.conftest import Chat


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def app(make_app):
    """A line for every request (the default logs only failed and slow ones)."""
    return make_app(GRADCERT_REQUEST_LOG="all")


@pytest.fixture
def captured():
    """What the gradcert handler writes, as JSON lines, into a buffer of the test's own."""
    stream = io.StringIO()
    logs.configure("json", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    logs.configure(None, sys.stderr)


def test_one_handler_per_process_whatever_the_number_of_apps(make_app):
    make_app()
    make_app()
    mine = [h for h in logging.getLogger().handlers if getattr(h, "gradcert", False)]
    assert len(mine) == 1 and mine[0].stream is sys.stderr


def _record(message="hello", **extra) -> logging.LogRecord:
    record = logging.LogRecord("gradcert.test", logging.INFO, __file__, 1, message, (), None)
    record.created = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z
    record.__dict__.update(extra)
    logs.RequestIdFilter().filter(record)
    return record


def test_json_off_a_terminal_text_on_one_and_either_when_forced():
    assert isinstance(logs.formatter(None, io.StringIO()), logs.JsonLineFormatter)
    assert isinstance(logs.formatter("", Terminal()), logs.TextFormatter)
    assert isinstance(logs.formatter("json", Terminal()), logs.JsonLineFormatter)
    assert isinstance(logs.formatter("TEXT", io.StringIO()), logs.TextFormatter)


def test_lines_are_in_utc_whatever_the_host_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    line = json.loads(logs.formatter("json").format(_record(route="/wechat")))
    assert line["time"] == "2023-11-14T22:13:20.250Z"
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "gradcert.test", "hello")
    assert line["request_id"] == "-" and line["route"] == "/wechat"
    text = logs.formatter("text").format(_record())
    assert text == "2023-11-14T22:13:20.250Z INFO [-] gradcert.test: hello"


def test_gunicorn_and_other_formats_still_get_the_process_and_thread_ids():
    # gunicorn's error log ("[%(process)d] [%(levelname)s]"): "Worker exiting", "Error handling
    # request" were logging errors in a worker once handlers.logs had turned the ids off
    fmt = logging.Formatter("[%(process)d] [%(thread)d] [%(levelname)s] %(message)s")
    line = fmt.format(logging.LogRecord("gunicorn.error", logging.INFO, __file__, 1, "x", (), None))
    assert line.startswith("[") and line.endswith("[INFO] x")


def test_request_ids_are_honoured_when_sane_and_made_otherwise():
    assert logs.sane_request_id("req-0123456789abcdef") == "req-0123456789abcdef"
    for bad in (None, "", "short", "x" * 65, "evil\nline-injected", "a b c d e f g h"):
        made = logs.sane_request_id(bad)
        assert made != bad and len(made) == 32


def test_one_json_line_per_request_with_its_request_id(app, captured):
    res = app.test_client().get("/healthz", headers={"X-Request-ID": "probe-00000001"})
    assert res.headers["X-Request-ID"] == "probe-00000001"
    [line] = [r for r in captured() if r["logger"] == "gradcert.request"]
    assert line["request_id"] == "probe-00000001"
    assert (line["method"], line["route"], line["status"]) == ("GET", "/healthz", 200)
    assert line["duration_ms"] >= 0 and line["time"].endswith("Z")

    res = app.test_client().get("/healthz")
    made = res.headers["X-Request-ID"]
    assert len(made) == 32
    assert [r["request_id"] for r in captured() if r["logger"] == "gradcert.request"][-1] == made


@pytest.fixture
def default_app(make_app):
    return make_app()


def test_by_default_only_failed_and_slow_requests_get_a_line(default_app, captured, monkeypatch):
    client = default_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    lines = [r for r in captured() if r["logger"] == "gradcert.request"]
    assert [(r["route"], r["status"]) for r in lines] == [(None, 404)]
    monkeypatch.setattr(logs, "SLOW", 0.0)  # now every request is slow
    res = client.get("/healthz", headers={"X-Request-ID": "slow-probe-0001"})
    assert res.status_code == 200
    line = [r for r in captured() if r["logger"] == "gradcert.request"][-1]
    assert (line["route"], line["status"], line["request_id"]) == (
        "/healthz",
        200,
        "slow-probe-0001",
    )


def test_the_request_line_names_the_route_never_the_path_or_query(app, chat, captured):
    chat.say("oOpenIdThatIsPersonal0000001", "0")
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in captured())
    assert '"route": "/wechat"' in text
    assert "oOpenIdThatIsPersonal0000001" not in text and "signature" not in text


def test_the_request_id_reaches_the_engine_thread_and_the_jobs_it_queues(app, demo, captured):
    chat = Chat(app)
    no, name, id_number, phone, _ = demo["李小红"]
    for text in ("1", "同意", name, id_number):
        chat.say("u-rid", text)
    query, body = chat.sim.text("u-rid", no)
    res = chat.client.post(
        "/wechat",
        query_string=query,
        data=body,
        content_type="text/xml",
        headers={"X-Request-ID": "binding-step-0042"},
    )
    assert "6位数字" in chat.sim.reply_text(res.data)
    rt = app.extensions["gradcert"]
    [job] = rt.queue.get_jobs()
    assert job.meta["request_id"] == "binding-step-0042"
    with app.app_context():
        Worker([rt.queue], connection=rt.redis).work(burst=True)
    mine = [r for r in captured() if r.get("request_id") == "binding-step-0042"]
    loggers = {r["logger"] for r in mine}
    assert {"gradcert.request", "gradcert.jobs"} <= loggers
    job_lines = [r for r in mine if r["logger"] == "gradcert.jobs"]
    assert any("send_otp_sms" in r["message"] or "run_effect" in r["message"] for r in job_lines)
    assert any(r["message"].endswith("ended: finished") for r in job_lines)
    # nothing personal in any line of that request or its job
    dumped = json.dumps(mine, ensure_ascii=False)
    assert id_number not in dumped and phone not in dumped


def test_the_terminal_chat_is_not_interleaved_with_request_lines(app, captured, tmp_path):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from handlers import cli as cli_module

    script = tmp_path / "dialog.txt"
    script.write_text("0\n", encoding="utf-8")
    request_log = logging.getLogger("gradcert.request")
    try:
        result = CliRunner().invoke(
            cli_module.cli,
            ["chat", "--script", str(script)],
            obj=ScriptInfo(create_app=lambda: app),
        )
        assert result.exit_code == 0, result.output
        assert "1 绑定身份" in result.output
        assert not [r for r in captured() if r["logger"] == "gradcert.request"]
    finally:
        request_log.setLevel(logging.NOTSET)
    app.test_client().get("/healthz")  # and the server's own lines are back
    assert [r for r in captured() if r["logger"] == "gradcert.request"]
