"""Processes a system test starts: each logs to a file under the test's folder, and `Spawned`
stops every one of them (SIGTERM, then SIGKILL) however the test ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Spawned:
    """A context manager owning the processes of one test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        """Start `argv` in its own process group, output to <folder>/<name>.log."""
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the process group of `name` and wait for it."""
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)

    def log(self, name: str) -> str:
        """What `name` wrote so far."""
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> Spawned:
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Until something accepts connections on 127.0.0.1:`port` (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")


def gradcert_env(**settings: str) -> dict:
    """The environment of a gradcert process started by a test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GRADCERT_", "REDIS_", "DATABASE_"))
    }
    env.update(settings)
    env.setdefault("PYTHONPATH", str(ROOT))
    return env


PYTHON = sys.executable
