"""The deploy kit's files agree with the code: the units run commands that exist, with settings
that exist; systemd accepts the units. (nginx, Redis and Sentinel files run in tests/system.)"""

from __future__ import annotations

import importlib
import re
import shlex
import shutil
import subprocess

import pytest

from handlers import config
from handlers.cli import cli
from handlers.redis_client import parse_sentinel_url

UNITS = ("gradcert-web.service", "gradcert-worker.service")


def _directives(text: str, name: str) -> list[str]:
    joined = text.replace("\\\n", " ")
    return [line.split("=", 1)[1] for line in joined.splitlines() if line.startswith(name + "=")]


def test_units_run_gradcert_commands_that_exist_and_load_the_app(root):
    for unit in UNITS:
        text = (root / "deploy" / "systemd" / unit).read_text()
        for command in _directives(text, "ExecStartPre") + _directives(text, "ExecStart"):
            argv = shlex.split(command)
            if argv[0].endswith("/gradcert"):
                assert argv[1] in cli.commands, command
            if argv[0].endswith("/gunicorn"):
                assert "handlers:create_app()" in argv
                module = argv[argv.index("--config") + 1].removeprefix("python:")
                assert callable(importlib.import_module(module).child_exit)
        assert _directives(text, "EnvironmentFile") == ["/etc/gradcert/gradcert.env"]
        assert "PROMETHEUS_MULTIPROC_DIR=/run/gradcert/metrics" in _directives(text, "Environment")


def test_the_env_example_names_only_settings_that_exist(root):
    text = (root / "deploy" / "gradcert.env.example").read_text()
    names = re.findall(r"^([A-Z][A-Z0-9_]+)=", text, flags=re.M)
    assert set(names) - set(config.SETTINGS) == {"TZ"}
    [redis_url] = re.findall(r"^REDIS_URL=(.*)$", text, flags=re.M)
    assert parse_sentinel_url(redis_url).master == "gradcert"
    assert "GRADCERT_ENV=production" in text and "TRUST_PROXY=1" in text


def test_systemd_accepts_the_units(root, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    venv = root / ".venv"
    for unit in UNITS:
        text = (root / "deploy" / "systemd" / unit).read_text()
        (tmp_path / unit).write_text(text.replace("/opt/gradcert/.venv", str(venv)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / u) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "gradcert" in line and "Failed to" not in line
    ]
    assert problems == [], problems
