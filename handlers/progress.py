"""Progress of long commands (import, key rotation, backup): counts and an ETA on one rewritten line
on a terminal; a plain line every tenth of the way (and at the end) when the output is a file."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call with (what, done, total); one instance may follow several phases in turn."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._what, self._started, self._shown, self._last = "", 0.0, -1, 0.0

    def __call__(self, what: str, done: int, total: int) -> None:
        if what != self._what:
            self._what, self._started, self._shown = what, time.monotonic(), -1
        step = done * 10 // total if total else 10
        if not self.tty and step == self._shown and done != total:
            return
        if self.tty and done != total and time.monotonic() - self._last < 0.1:
            return
        self._shown, self._last = step, time.monotonic()
        elapsed = time.monotonic() - self._started
        eta = elapsed / done * (total - done) if done else 0.0
        line = f"{what}: {done}/{total}" + (f" ({done * 100 // total}%)" if total else "")
        if done < total:
            line += f", about {_duration(eta)} left"
        else:
            line += f", done in {_duration(elapsed)}"
        if self.tty:
            end = "\n" if done >= total else ""
            self.stream.write(f"\r\033[K{line}{end}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
