"""The certificate PDF: reportlab with its built-in STSong-Light CID font (no font download),
the QR code to the verification page, the code under it, the digest and the SM2 signature.

The signed content and signature also travel in the PDF's metadata (Subject), so that
`gradcert verify-file` can check a downloaded file offline against the school's public key.
"""

from __future__ import annotations

import base64
import io
import json

import qrcode
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from bot.platform.workdays import local
from models import Certificate

CJK = "STSong-Light"
META_PREFIX = "gradcert-certificate:"
VALUE_ROOM = A4[0] - 100 * mm  # values start 80 mm in and keep a 20 mm margin
pdfmetrics.registerFont(UnicodeCIDFont(CJK))


def verification_url(public_url: str, code: str) -> str:
    """Where the QR code points."""
    return f"{public_url.rstrip('/')}/v/{code}"


def qr_png(url: str) -> bytes:
    """A QR code as PNG (medium error correction, 4-module quiet zone)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out)
    return out.getvalue()


def render(cert: Certificate, public_url: str, fingerprint: str) -> bytes:
    """The PDF bytes of one certificate."""
    data = json.loads(cert.content)
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    width, height = A4
    pdf.setTitle(f"电子学历证明 {cert.code}")
    pdf.setAuthor(data["school"])
    pdf.setSubject(
        META_PREFIX
        + base64.b64encode(
            json.dumps(
                {"content": cert.content, "signature": cert.signature}, ensure_ascii=False
            ).encode()
        ).decode()
    )

    pdf.setFont(CJK, 22)
    pdf.drawCentredString(width / 2, height - 35 * mm, "电子学历证明")
    pdf.setFont("Helvetica", 11)
    pdf.drawCentredString(width / 2, height - 43 * mm, "Electronic Diploma Certificate")
    pdf.setFont(CJK, 13)
    pdf.drawCentredString(width / 2, height - 52 * mm, data["school"])

    rows = [
        ("姓名", "Name", data["name"]),
        ("层次", "Level", data["level"]),
        ("专业", "Major", data["major"]),
        ("学习形式", "Study mode", data["study_mode"]),
        ("毕业日期", "Graduation", data["grad_date"] or "-"),
        ("证书编号", "Certificate no.", data["certificate_no"] or "-"),
        (
            "有效期",
            "Valid",
            f"{local(cert.valid_from):%Y-%m-%d} - {local(cert.valid_until):%Y-%m-%d}",
        ),
    ]
    y = height - 72 * mm
    for chinese, english, value in rows:
        pdf.setFont(CJK, 11)
        pdf.drawString(25 * mm, y, chinese)
        pdf.setFont("Helvetica", 9)
        pdf.drawString(25 * mm + pdfmetrics.stringWidth(chinese, CJK, 11) + 2 * mm, y, english)
        value = str(value)
        font = "Helvetica" if value.isascii() else CJK
        size = 12.0 if pdfmetrics.stringWidth(value, font, 12) <= VALUE_ROOM else 10.0
        pdf.setFont(font, size)
        # a long major (up to 64 characters) wraps, never runs off
        lines = _wrapped(value, font, size)
        for i, line in enumerate(lines):
            pdf.drawString(80 * mm, y - i * size * 1.25, line)
        y -= 9 * mm + (len(lines) - 1) * size * 1.25

    url = verification_url(public_url, cert.code)
    size = 45 * mm
    qr_x, qr_y = width - 25 * mm - size, 62 * mm
    pdf.drawImage(ImageReader(io.BytesIO(qr_png(url))), qr_x, qr_y, size, size)
    pdf.linkURL(url, (qr_x, qr_y, qr_x + size, qr_y + size))
    pdf.setFont("Courier-Bold", 12)
    pdf.drawCentredString(qr_x + size / 2, qr_y - 6 * mm, _grouped(cert.code))
    pdf.setFont(CJK, 10)
    pdf.drawString(25 * mm, qr_y + size - 5 * mm, "扫码或访问验证页核验")
    pdf.setFont("Helvetica", 9)
    pdf.drawString(70 * mm, qr_y + size - 5 * mm, "Scan or visit to verify:")
    pdf.setFont("Helvetica", 9)
    pdf.drawString(25 * mm, qr_y + size - 11 * mm, url)
    pdf.drawString(25 * mm, qr_y + size - 17 * mm, f"Verification code: {cert.code}")

    pdf.setFont("Courier", 7)
    footer = [
        f"SM3 digest: {cert.digest}",
        "SM2 signature:",
        cert.signature[:64],
        cert.signature[64:],
        f"School public key fingerprint (SM3): {fingerprint}",
    ]
    y = 40 * mm
    for line in footer:
        pdf.drawString(25 * mm, y, line)
        y -= 4 * mm
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def embedded(pdf_bytes: bytes) -> dict | None:
    """The signed content and signature carried in a certificate PDF, or None."""
    from pypdf import PdfReader

    try:
        subject = (PdfReader(io.BytesIO(pdf_bytes)).metadata or {}).get("/Subject") or ""
    except Exception:
        return None
    if not subject.startswith(META_PREFIX):
        return None
    try:
        return json.loads(base64.b64decode(subject[len(META_PREFIX) :]))
    except ValueError:
        return None


def _grouped(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def _wrapped(value: str, font: str, size: float) -> list[str]:
    """The value in lines that fit VALUE_ROOM, broken between characters (Chinese has no spaces)."""
    lines, line = [], ""
    for ch in value:
        if line and pdfmetrics.stringWidth(line + ch, font, size) > VALUE_ROOM:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line]
