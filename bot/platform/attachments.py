"""Photos of appeals and proxy requests: checked (size, image type) and stored (disk or S3); a
photo that is refused or cannot be stored is kept as a row that says why, for staff to see."""

from __future__ import annotations

import hashlib
import logging

from bot.platform.attachment_store import AttachmentStore, StoreError
from models import Attachment, AttachmentState

MAX_BYTES = 5 * 1024 * 1024
log = logging.getLogger(__name__)
SIGNATURES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a JPEG or PNG, from its first bytes; None otherwise."""
    for magic, kind in SIGNATURES.items():
        if data.startswith(magic):
            return kind
    return None


def store(attachment: Attachment, data: bytes, target: AttachmentStore) -> None:
    """Check the bytes and keep them, or mark the attachment rejected with the reason."""
    kind = sniff(data)
    if len(data) > MAX_BYTES:
        attachment.state, attachment.error = AttachmentState.REJECTED, "too large"
        return
    if kind is None:
        attachment.state, attachment.error = AttachmentState.REJECTED, "not a JPEG or PNG"
        return
    digest = hashlib.sha256(data).hexdigest()
    owner = (
        f"appeal-{attachment.appeal_id}" if attachment.appeal_id else f"proxy-{attachment.proxy_id}"
    )
    key = f"{owner}/{attachment.id}-{digest[:12]}.{kind[1]}"
    try:
        target.put(key, data, kind[0])
    except StoreError as exc:  # staff see that the photo could not be kept and can ask for it again
        log.warning("attachment %s not stored: %s", attachment.id, exc)
        attachment.state, attachment.error = AttachmentState.REJECTED, "storage failed"
        return
    attachment.state = AttachmentState.STORED
    attachment.storage_key, attachment.content_type = key, kind[0]
    attachment.size, attachment.sha256 = len(data), digest


def fetch_attachment(services, payload: dict) -> None:
    """Download a photo sent for an appeal and store it (or record why it was refused)."""
    attachment = services.db.get(Attachment, payload["attachment_id"])
    if attachment is None or attachment.state != AttachmentState.PENDING:
        return
    msg = services.msg
    try:
        data = services.domain.fetch_media(msg.channel, msg.app_id, attachment.media_id)
    except Exception as exc:  # the media API failed or the file expired: staff see the reason
        log.warning("attachment %s download failed: %s", attachment.id, type(exc).__name__)
        attachment.state, attachment.error = AttachmentState.REJECTED, "download failed"
        return
    # refused or failed: the attachment says why
    store(attachment, data, services.domain.attachments)
