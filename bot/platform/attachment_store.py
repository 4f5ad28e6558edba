"""Where appeal photos and notarised authorisations are kept: a local folder (default) or an
S3-compatible object store (MinIO, Tencent COS, Alibaba OSS, AWS S3) reached through the maintained
minio client (SigV4, path-style addressing as most Chinese clouds want), with a timeout and a few
retries with backoff."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException


class StoreError(Exception):
    """The object could not be written or read (the message holds no personal data)."""


class AttachmentStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


class LocalStore:
    """Files under one folder; keys never leave it."""

    def __init__(self, directory: str | Path) -> None:
        self.base = Path(directory).resolve()

    def _path(self, key: str) -> Path:
        path = (self.base / key).resolve()
        if not path.is_relative_to(self.base):
            raise StoreError("key outside the attachment folder")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write atomically."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        """The stored bytes, or StoreError."""
        path = self._path(key)
        if not path.is_file():
            raise StoreError("no such attachment")
        return path.read_bytes()

    def delete(self, key: str) -> None:
        """Remove the file (gone already is fine)."""
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """Objects in a bucket of an S3-compatible store (path-style URLs)."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        self.bucket = bucket
        self._client = Minio(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            region=region,  # given, so that no bucket-location request precedes each call
            secure=parts.scheme == "https",
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=min(timeout, 3.0), read=timeout),
                retries=urllib3.Retry(
                    total=2,  # a store that is down costs about a second, not minutes
                    backoff_factor=0.2,
                    status_forcelist=(500, 502, 503, 504),
                    allowed_methods=None,  # PUT of the same bytes is idempotent
                ),
            ),
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """PUT the object."""
        try:
            self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise StoreError(_why(exc)) from None

    def get(self, key: str) -> bytes:
        """GET the object."""
        try:
            res = self._client.get_object(self.bucket, key)
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise StoreError(_why(exc)) from None
        try:
            return res.read()
        finally:
            res.close()
            res.release_conn()


def _why(exc: Exception) -> str:
    """What went wrong, without the key (it may name a ticket) or any credential."""
    if isinstance(exc, ValueError):  # e.g. a bucket name S3 does not allow (S3_BUCKET)
        return f"object store misconfigured ({exc})"
    code = getattr(exc, "code", None) or getattr(exc, "status", None)
    if code:
        return f"object store refused: {code}"
    return f"object store unreachable ({type(exc).__name__})"

    def delete(self, key: str) -> None:
        """DELETE the object (S3 answers 204 whether or not it existed)."""
        self._call("DELETE", key)


def make_store(config: dict) -> AttachmentStore:
    """`GRADCERT_ATTACHMENT_STORE`: empty for the local folder, `s3` for the S3_* settings."""
    kind = (config.get("GRADCERT_ATTACHMENT_STORE") or "").lower()
    if kind in ("", "local"):
        return LocalStore(config["GRADCERT_ATTACHMENT_DIR"])
    if kind == "s3":
        return S3Store(
            config["S3_ENDPOINT"],
            config["S3_BUCKET"],
            config["S3_ACCESS_KEY"],
            config["S3_SECRET_KEY"],
            config.get("S3_REGION") or "us-east-1",
        )
    raise ValueError(f"GRADCERT_ATTACHMENT_STORE must be empty, local or s3, not {kind!r}")
