"""SM2 signatures of the school (gmssl), kept off the hot path: one signature per certificate event.

gmssl draws the signing nonce from `random` unless given one, which would leak the private key:
every signature here passes a nonce from `secrets`.
"""

from __future__ import annotations

import secrets

from gmssl import sm2

from bot.platform.crypto import sm3

N = int(sm2.default_ecc_table["n"], 16)


def generate_private_key() -> str:
    """A new SM2 private key as 64 hex digits."""
    return format(secrets.randbelow(N - 1) + 1, "064x")


def public_key_of(private_hex: str) -> str:
    """The public key (x || y, 128 hex digits) of a private key."""
    return sm2.CryptSM2(private_key=private_hex, public_key="")._kg(
        int(private_hex, 16), sm2.default_ecc_table["g"]
    )


def fingerprint(public_hex: str) -> str:
    """SM3 of the public key, shown in groups of four for people to compare."""
    digest = sm3(bytes.fromhex(public_hex)).hex().upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def key_id(public_hex: str) -> str:
    """SM3 of a public key, 64 lower-case hex digits (the fingerprint is its first half)."""
    return sm3(bytes.fromhex(public_hex)).hex()


class Sm2Signer:
    """Signs and verifies with the school's SM2 key (SM3withSM2, default user id)."""

    def __init__(self, private_hex: str | None, public_hex: str | None = None) -> None:
        if not public_hex and not private_hex:
            raise ValueError("an SM2 key is needed")
        self.public_hex = public_hex or public_key_of(private_hex)
        self._crypt = sm2.CryptSM2(private_key=private_hex or "", public_key=self.public_hex)
        self._can_sign = bool(private_hex)

    @property
    def key_id(self) -> str:
        """SM3 of the public key, 64 hex digits: what a certificate records of its key."""
        return key_id(self.public_hex)

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint."""
        return fingerprint(self.public_hex)

    def sign(self, data: bytes) -> str:
        """Hex signature (r || s) of `data`."""
        if not self._can_sign:
            raise ValueError("this signer holds only the public key")
        nonce = format(secrets.randbelow(N - 1) + 1, "064x")
        return self._crypt.sign_with_sm3(data, nonce)

    def verify(self, data: bytes, signature: str) -> bool:
        """True when `signature` is the school's over `data`."""
        try:
            return bool(self._crypt.verify_with_sm3(signature, data))
        except (ValueError, TypeError, IndexError):
            return False
