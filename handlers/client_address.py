"""The client's address for rate limits, honouring TRUST_PROXY reverse proxies."""

from __future__ import annotations

from flask import current_app, request


def client_address() -> str:
    """remote_addr; behind TRUST_PROXY (number of proxies, or True for one) the address the
    nearest trusted proxy saw, counted from the right of X-Forwarded-For (the left is forgeable)."""
    hops = int(current_app.config.get("TRUST_PROXY") or 0)
    forwarded = [
        part.strip()
        for part in request.headers.get("X-Forwarded-For", "").split(",")
        if part.strip()
    ]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.remote_addr or "unknown"
