"""Rendered certificate PDFs on disk (instance/certificates by default), one file per version of a
certificate's signed content, rendered on demand when the queue has not got to it yet."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bot.diploma.pdf import render
from models import Certificate


def pdf_path(domain, cert: Certificate) -> Path:
    """Where this version of the certificate's PDF lives (the digest changes when it is extended)."""
    return Path(domain.certificate_dir) / f"{cert.code}-{cert.digest[:16]}.pdf"


def store_pdf(domain, cert: Certificate) -> Path:
    """Render (atomically) unless this version is already on disk."""
    path = pdf_path(domain, cert)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = render(cert, domain.public_url, domain.signer.fingerprint)
        # one per thread: gthread workers
        handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    return path


def render_certificate(services, payload: dict) -> None:
    """Render a certificate's PDF ahead of its first download."""
    cert = services.db.get(Certificate, payload["certificate_id"])
    if cert is not None:
        store_pdf(services.domain, cert)
        cert.pdf_ready_at = services.now()
