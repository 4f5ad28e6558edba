"""Where appeal photos and notarised authorisations are kept: a local folder (default) or an
S3-compatible object store (MinIO, Tencent COS, Alibaba OSS, AWS S3) reached with plain requests
and AWS Signature Version 4, with a timeout."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import requests


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


def sigv4_headers(
    method: str,
    url: str,
    payload: bytes,
    access_key: str,
    secret_key: str,
    region: str,
    now: dt.datetime,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers that sign a request with AWS Signature Version 4 (service s3, unsigned query)."""
    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload_hash = hashlib.sha256(payload).hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    headers.update({k.lower(): v.strip() for k, v in (extra or {}).items()})
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            parts.query,
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            signed,
            payload_hash,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return headers


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
        self.endpoint, self.bucket = endpoint.rstrip("/"), bucket
        self.access_key, self.secret_key, self.region, self.timeout = (
            access_key,
            secret_key,
            region,
            timeout,
        )

    def _call(
        self, method: str, key: str, payload: bytes = b"", extra: dict | None = None
    ) -> requests.Response:
        url = f"{self.endpoint}/{self.bucket}/{quote(key, safe='/-_.~')}"
        headers = sigv4_headers(
            method,
            url,
            payload,
            self.access_key,
            self.secret_key,
            self.region,
            dt.datetime.now(dt.UTC),
            extra,
        )
        headers.pop("host")
        try:
            res = requests.request(
                method, url, data=payload or None, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise StoreError(f"object store unreachable ({type(exc).__name__})") from None
        if res.status_code >= 300:
            raise StoreError(f"object store answered HTTP {res.status_code}")
        return res

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """PUT the object."""
        self._call("PUT", key, data, {"content-type": content_type})

    def get(self, key: str) -> bytes:
        """GET the object."""
        return self._call("GET", key).content

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
