"""Demo data for a laptop: `gradcert seed-demo` and `gradcert serve --demo`."""

from __future__ import annotations


def seed_demo(runtime) -> list[str]:
    """Create the demo records (idempotent); returns lines to print."""
    return ["(no demo records yet)"]
