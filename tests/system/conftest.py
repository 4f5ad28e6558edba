"""System tests: real processes (gunicorn, RQ workers, redis-server, redis-sentinel, nginx, wrk)
started by the test on loopback ports it picks. They are marked `system`. Where a program they
need is missing they are skipped, as the browser tests are, unless GRADCERT_REQUIRE_SYSTEM=1
(set by .ci/run, which installs every program): then a missing program fails the test, so CI can
never pass by skipping."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/system/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.system)


def require(*programs: str) -> dict[str, str]:
    """Paths of the programs; skip (or fail under GRADCERT_REQUIRE_SYSTEM=1) when one is missing."""
    found = {
        p: shutil.which(p) or (f"/usr/sbin/{p}" if os.path.exists(f"/usr/sbin/{p}") else None)
        for p in programs
    }
    missing = [p for p, path in found.items() if not path]
    if missing:
        message = f"needs {', '.join(missing)} (apt-get install; .ci/run installs them)"
        if os.environ.get("GRADCERT_REQUIRE_SYSTEM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
