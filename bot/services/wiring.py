"""Attach the domain services to a message's `Services` (grows as flows are added)."""

from __future__ import annotations


def attach(services, runtime) -> None:
    """Add the per-message domain services to `services.extra`."""
