"""Settings: environment first, embedded defaults, development secrets generated once."""

import json
import multiprocessing
import re

from handlers import config


def _load(instance, queue):
    queue.put(config.load(instance, {}))


def test_workers_starting_together_share_one_set_of_generated_secrets(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_load, args=(str(tmp_path), queue)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join()
    keys = {
        (r["GRADCERT_SECRET_KEY"], r["WECHAT_TOKEN"], r["GRADCERT_SM2_PRIVATE_KEY"])
        for r in results
    }
    assert len(keys) == 1
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert (
        json.loads((tmp_path / "secrets.json").read_text())["WECHAT_TOKEN"]
        == results[0]["WECHAT_TOKEN"]
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".secrets")]


def test_environment_wins_and_defaults_fill_in(tmp_path):
    values = config.load(tmp_path, {"WECHAT_TOKEN": "from-env", "GRADCERT_DEADLINE": "2.5"})
    assert values["WECHAT_TOKEN"] == "from-env" and values["GRADCERT_DEADLINE"] == 2.5
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path / 'gradcert.db'}"
    assert values["REDIS_URL"] is None  # the embedded server


def test_readme_lists_every_setting(root):
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in config.SETTINGS)


# Flask's own keys, set by the factory from our settings, not read from the environment
FLASK_KEYS = {
    "SECRET_KEY",
    "MAX_CONTENT_LENGTH",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "TESTING",
}
SETTING_READ = re.compile(
    r"""(?:config|cfg|environ|settings)(?:\.get\(|\[|\.setdefault\()\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def test_every_setting_read_anywhere_is_declared(root):
    """A setting read in the code but missing from handlers/config.py would be absent from the
    README table and from `config.load` (it would only ever have its inline default)."""
    read = set()
    for package in ("bot", "handlers", "models"):
        for path in (root / package).rglob("*.py"):
            read |= {
                (name, path.relative_to(root).as_posix())
                for name in SETTING_READ.findall(path.read_text())
            }
    undeclared = sorted(
        (name, where)
        for name, where in read
        if name not in config.SETTINGS and name not in FLASK_KEYS
    )
    assert undeclared == []
    assert len({name for name, _ in read}) > 30  # the scan finds the settings it should


# production mode: every missing piece is named, all at once
READY = {
    "GRADCERT_ENV": "production",
    "DATABASE_URL": "postgresql://gradcert@db.internal/gradcert",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SMS_PROVIDER": "tencent",
    "GRADCERT_PUBLIC_URL": "https://verify.example.edu.cn",
    "GRADCERT_SECRET_KEY": "s" * 43,
    "WECHAT_TOKEN": "t" * 22,
    "GRADCERT_PII_KEYS": "1:00112233445566778899aabbccddeeff",
    "GRADCERT_INDEX_KEY": "ab" * 32,
    "GRADCERT_SM2_PRIVATE_KEY": "1" * 64,
}


def _problems(tmp_path, **changes):
    environ = {k: v for k, v in {**READY, **changes}.items() if v is not None}
    values = config.load(tmp_path, environ)
    try:
        config.check_production(values)
    except config.NotReadyForProduction as exc:
        return str(exc)
    return ""


def test_production_with_everything_set_starts(tmp_path):
    assert _problems(tmp_path) == ""
    assert not (tmp_path / "secrets.json").exists()


def test_production_refuses_a_secret_that_would_be_generated(tmp_path):
    for name in config.GENERATED:
        message = _problems(tmp_path, **{name: None})
        assert f"{name} is not set" in message and "1 setting(s)" in message
    assert not (tmp_path / "secrets.json").exists()  # nothing was generated


def test_production_refuses_the_embedded_redis(tmp_path):
    assert "REDIS_URL is not set" in _problems(tmp_path, REDIS_URL=None)


def test_production_refuses_the_console_sms_provider(tmp_path):
    assert "SMS_PROVIDER is `console`" in _problems(tmp_path, SMS_PROVIDER=None)
    assert "SMS_PROVIDER" in _problems(tmp_path, SMS_PROVIDER="console")


def test_production_refuses_a_public_url_without_tls(tmp_path):
    message = _problems(tmp_path, GRADCERT_PUBLIC_URL="http://verify.example.edu.cn")
    assert "GRADCERT_PUBLIC_URL is not https (http://verify.example.edu.cn)" in message
    assert "GRADCERT_PUBLIC_URL is not https" in _problems(tmp_path, GRADCERT_PUBLIC_URL=None)


def test_production_refuses_sqlite(tmp_path):
    assert "DATABASE_URL is SQLite" in _problems(tmp_path, DATABASE_URL=None)
    assert "DATABASE_URL is SQLite" in _problems(tmp_path, DATABASE_URL="sqlite:////srv/g.db")


def test_production_lists_everything_missing_in_one_message(tmp_path):
    message = _problems(tmp_path, **{name: None for name in READY if name != "GRADCERT_ENV"})
    assert message.startswith("gradcert will not start: GRADCERT_ENV=production and 9 setting(s)")
    assert message.count("\n  - ") == 9
    assert "docs/deploy.md" in message


def test_development_still_generates_its_secrets(tmp_path):
    values = config.load(tmp_path, {})
    config.check_production(values)  # development: nothing to refuse
    assert values["GRADCERT_ENV"] == "development" and (tmp_path / "secrets.json").exists()


def test_the_command_refuses_with_the_message_and_no_traceback(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADCERT_", "REDIS_"))}
    env.update(GRADCERT_ENV="production", GRADCERT_INSTANCE=str(tmp_path), DATABASE_URL="")
    done = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "ledger", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "GRADCERT_ENV=production and 9 setting(s)" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "secrets.json").exists()
