"""Appeal photos: downloaded by a queued effect, checked (size, image type), stored on disk."""

from __future__ import annotations

import hashlib

from bot.services.attachment_store import AttachmentStore
from models import Attachment, AttachmentState

MAX_BYTES = 5 * 1024 * 1024
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
        attachment.state, attachment.error = AttachmentState.REJECTED.value, "too large"
        return
    if kind is None:
        attachment.state, attachment.error = AttachmentState.REJECTED.value, "not a JPEG or PNG"
        return
    digest = hashlib.sha256(data).hexdigest()
    owner = f"appeal-{attachment.appeal_id}" if attachment.appeal_id else f"proxy-{attachment.proxy_id}"
    key = f"{owner}/{attachment.id}-{digest[:12]}.{kind[1]}"
    target.put(key, data, kind[0])
    attachment.state = AttachmentState.STORED.value
    attachment.storage_key, attachment.content_type = key, kind[0]
    attachment.size, attachment.sha256 = len(data), digest
