"""Staff password hashes: scrypt (n=2**15, r=8, p=1) in the `scrypt:n:r:p$salt$hex` format that
Werkzeug writes, so that hashes stored before keep working, without the core importing Werkzeug."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

N, R, P = 2**15, 8, 1
SALT_CHARS = string.ascii_letters + string.digits


def _scrypt(password: str, salt: str, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
    ).hex()


def hash_password(password: str) -> str:
    """A new salted scrypt hash of `password`."""
    salt = "".join(secrets.choice(SALT_CHARS) for _ in range(16))
    return f"scrypt:{N}:{R}:{P}${salt}${_scrypt(password, salt, N, R, P)}"


def check_password(stored: str, password: str) -> bool:
    """True when `password` matches the stored hash (constant-time compare); False for anything
    that is not a scrypt hash of this format."""
    try:
        method, salt, digest = stored.split("$", 2)
        name, n, r, p = method.split(":")
        if name != "scrypt":
            return False
        return hmac.compare_digest(_scrypt(password, salt, int(n), int(r), int(p)), digest)
    except ValueError:
        return False
