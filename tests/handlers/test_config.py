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
