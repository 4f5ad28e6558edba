"""The national algorithms for personal data: SM3 digests, HMAC-SM3 blind indexes and code hashes,
SM4-GCM encryption with versioned keys. Built on `cryptography` (OpenSSL 3), fast enough for the
hot path; gmssl is used only for SM2 and as a cross-check in tests."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sm3(data: bytes) -> bytes:
    """SM3 digest (GB/T 32905)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC with SM3."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def sm4_ecb_block(key: bytes, block: bytes) -> bytes:
    """One raw SM4 block (for the GB/T 32907 known-answer test only)."""
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


class DecryptionFailed(Exception):
    """Ciphertext tampered with, or sealed under a key we do not have."""


def parse_keys(spec: str) -> dict[int, bytes]:
    """`1:<32 hex>,2:<32 hex>` -> {1: key, 2: key}; each key is 16 bytes (SM4)."""
    keys: dict[int, bytes] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        version, _, hexkey = part.partition(":")
        key = bytes.fromhex(hexkey)
        if len(key) != 16:
            raise ValueError("each GRADCERT_PII_KEYS entry needs 32 hex digits (a 128-bit SM4 key)")
        keys[int(version)] = key
    if not keys:
        raise ValueError("GRADCERT_PII_KEYS is empty")
    return keys


@dataclass
class PiiCipher:
    """SM4-GCM under versioned keys (newest encrypts, all decrypt) plus an HMAC-SM3 blind index.

    Ciphertext layout: 12-byte nonce | ciphertext | 16-byte tag. The key version is stored beside
    it in its own column. The blind-index key is separate and survives key rotation.
    """

    keys: dict[int, bytes]
    index_key: bytes
    seal_version: int | None = None  # None: the newest; an older one while hosts learn a new key

    @classmethod
    def from_config(
        cls, pii_keys: str, index_secret: str, seal_version: str | int | None = None
    ) -> PiiCipher:
        """Keys from GRADCERT_PII_KEYS (and GRADCERT_PII_SEAL_VERSION); the index key is derived
        from GRADCERT_INDEX_KEY."""
        keys = parse_keys(pii_keys)
        version = int(seal_version) if str(seal_version or "").strip() else None
        if version is not None and version not in keys:
            raise ValueError(f"GRADCERT_PII_SEAL_VERSION {version} is not in GRADCERT_PII_KEYS")
        return cls(keys, hmac_sm3(index_secret.encode(), b"gradcert blind index v1"), version)

    @property
    def current_version(self) -> int:
        """The version new data is sealed with."""
        return self.seal_version if self.seal_version is not None else max(self.keys)

    def seal(self, plaintext: str, associated: bytes = b"") -> tuple[bytes, int]:
        """(ciphertext, key version) of a UTF-8 string."""
        version = self.current_version
        nonce = os.urandom(12)
        enc = Cipher(algorithms.SM4(self.keys[version]), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(associated)
        body = enc.update(plaintext.encode()) + enc.finalize()
        return nonce + body + enc.tag, version

    def open(self, sealed: bytes, version: int, associated: bytes = b"") -> str:
        """The plaintext, or DecryptionFailed."""
        key = self.keys.get(version)
        if key is None or len(sealed) < 28:
            raise DecryptionFailed("unknown key version or short ciphertext")
        nonce, body, tag = sealed[:12], sealed[12:-16], sealed[-16:]
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(associated)
        try:
            return (dec.update(body) + dec.finalize()).decode()
        except InvalidTag:
            raise DecryptionFailed("authentication failed") from None

    def open_or_none(
        self, sealed: bytes | None, version: int, associated: bytes = b""
    ) -> str | None:
        """The plaintext, or None when there is nothing sealed or it cannot be opened (shown as "—")."""
        if not sealed:
            return None
        try:
            return self.open(sealed, version, associated)
        except DecryptionFailed:
            return None

    def seal_text(self, plaintext: str) -> str:
        """A compact string form (`v.<base64>`) for values kept in Redis or job arguments."""
        sealed, version = self.seal(plaintext)
        return f"{version}.{base64.urlsafe_b64encode(sealed).decode()}"

    def open_text(self, token: str) -> str:
        """Inverse of `seal_text`."""
        version, _, body = token.partition(".")
        return self.open(base64.urlsafe_b64decode(body), int(version))

    def index(self, kind: str, normalised: str) -> str:
        """Blind index: hex HMAC-SM3 of `kind:value`, for equality lookups without decryption."""
        mac = self._keyed_index().copy()  # the keyed state is reused: half the cost of a new HMAC
        mac.update(f"{kind}:{normalised}".encode())
        return mac.finalize().hex()

    def _keyed_index(self) -> hmac.HMAC:
        keyed = self.__dict__.get("_index_mac")
        if keyed is None:
            keyed = self.__dict__["_index_mac"] = hmac.HMAC(self.index_key, hashes.SM3())
        return keyed
