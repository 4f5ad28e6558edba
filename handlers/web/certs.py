"""Certificate PDF downloads through signed, expiring links (`/c/<code>.pdf?e=...&s=...`)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request, send_file
from sqlalchemy import select

from bot.diploma import certificates
from bot.diploma.files import store_pdf
from handlers.current import runtime
from models import Certificate

bp = Blueprint("certs", __name__)

GONE = {
    certificates.CertStatus.CLOSED: "该电子证明已由持有人关闭。This certificate was closed by its holder.",
    certificates.CertStatus.REVOKED: "该电子证明已被撤销。This certificate has been revoked.",
    certificates.CertStatus.EXPIRED: "该电子证明已过期。This certificate has expired.",
}


@bp.get("/c/<code>.pdf")
def download(code: str):
    """The PDF, when the link is ours and unexpired and the certificate still valid."""
    rt = runtime()
    domain = rt.domain
    if not certificates.check_download(
        domain.link_secret, code, request.args.get("e"), request.args.get("s")
    ):
        abort(403)
    with rt.sessions() as db:
        cert = db.scalar(select(Certificate).where(Certificate.code == code))
        if cert is None:
            abort(404)
        state = certificates.status(cert, domain.clock())
        if state in GONE:
            return Response(GONE[state], status=410, mimetype="text/plain; charset=utf-8")
        path = store_pdf(domain, cert)
    response = send_file(path, mimetype="application/pdf", download_name=f"certificate-{code}.pdf")
    response.headers["Cache-Control"] = "private, no-store"
    return response
