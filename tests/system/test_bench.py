"""`gradcert bench` end to end: both servers under gunicorn, wrk with prepared requests, the table
and the headline ratio printed (a short run: the figures themselves are the README's)."""

from __future__ import annotations

import subprocess
import sys

from tests.system.conftest import require


def test_bench_runs_the_servers_and_prints_the_ratio():
    require("wrk")
    out = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "bench", "--seconds", "1", "--rounds", "1"]
        + ["--scenario", "menu", "--scenario", "first", "--scenario", "verify-json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert any(line.startswith("bound user at the menu") and "bare" in line for line in lines)
    ceilings = [line.split() for line in lines if line.split()[:1] == ["ceiling"]]
    assert len(ceilings) == 3  # one per scenario
    assert all(0 < float(row[5]) < 5 for row in ceilings)  # its ratio to bare
    assert any(line.startswith("new user's first message") for line in lines)
    assert any(line.startswith("verification /v/<code>.json") for line in lines)
    ratio = next(line for line in lines if line.startswith("ratio "))
    assert 0 < float(ratio.split()[1]) < 5
    assert "; ceiling " in ratio
