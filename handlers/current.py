"""`runtime()`: the current app's Runtime, the one accessor every view, job and command uses.

It lives apart from handlers/runtime.py because the jobs it serves are enqueued by reference from
there (handlers.runtime imports handlers.jobs, which needs this accessor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from handlers.runtime import Runtime


def runtime() -> Runtime:
    """The current app's Runtime (app.extensions['gradcert'])."""
    return current_app.extensions["gradcert"]
