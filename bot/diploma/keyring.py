"""The school's SM2 signing keys as a keyring: the key that signs now, and the public keys of the
keys that signed before a rotation (table signing_keys), so that every certificate keeps verifying.

Each certificate records the id of its key (`certificates.signing_key`, SM3 of the public key);
a certificate from before the keyring (NULL) is tried against every known key. A verdict is a pure
function of (public key, content, signature), so it is remembered in Redis under the SM3 of all
three: a tampered content or signature is another entry, and the slow pure-Python SM2 verification
(about 0.1 s) runs once per certificate version rather than on every lookup of the public page.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core import keys
from bot.platform.crypto import sm3
from bot.platform.signing import Sm2Signer
from models import Certificate, SigningKey, utcnow

VERDICT_TTL = 200 * 86400  # longer than a certificate lives unchanged (180 days at most)


@dataclass(frozen=True)
class Verdict:
    """Whether a signature is the school's, and whether SM2 had to run to tell (slow)."""

    genuine: bool
    computed: bool


class Keyring:
    """Signs with the current key; verifies with whichever key a certificate names."""

    def __init__(self, signer: Sm2Signer, redis: Redis | None = None) -> None:
        self.signer = signer
        self._redis = redis
        self._public: dict[str, Sm2Signer] = {signer.key_id: signer}  # public keys never change

    def sign(self, db: Session, content: bytes) -> tuple[str, str]:
        """(key id, signature) of `content` under the current key, which is registered first."""
        register(db, self.signer)
        signature = self.signer.sign(content)
        self._remember(self.verdict_key(self.signer.key_id, content, signature), True)
        return self.signer.key_id, signature

    def verify(
        self,
        db: Session,
        key_id: str | None,
        content: bytes,
        signature: str,
        recalled: dict[str, bool | None] | None = None,
    ) -> Verdict:
        """The verdict on `signature` by the key `key_id` (None: any key known to the keyring).
        `recalled`: remembered verdicts the caller already read from Redis, by `verdict_key`
        (a key in it with None: read, not remembered)."""
        candidates = [key_id] if key_id else self._known_ids(db)
        computed = False
        for candidate in candidates:
            verifier = self._verifier(db, candidate)
            if verifier is None:
                continue  # a key this installation never had: not the school's signature
            check = self.verdict_key(candidate, content, signature)
            if recalled is not None and check in recalled:
                genuine = recalled[check]
            else:
                genuine = self._recall(check)
            if genuine is None:
                genuine = verifier.verify(content, signature)
                computed = True
                self._remember(check, genuine)
            if genuine:
                return Verdict(True, computed)
        return Verdict(False, computed)

    def key_of(self, db: Session, key_id: str | None) -> Sm2Signer:
        """The (public) key a certificate names; the current one for NULL or an unknown id."""
        return (self._verifier(db, key_id) if key_id else None) or self.signer

    def _verifier(self, db: Session, key_id: str) -> Sm2Signer | None:
        if key_id not in self._public:
            row = db.get(SigningKey, key_id)
            if row is None:
                return None
            self._public[key_id] = Sm2Signer(None, row.public_key)
        return self._public[key_id]

    def _known_ids(self, db: Session) -> list[str]:
        ids = db.scalars(select(SigningKey.key_id).order_by(SigningKey.added_at)).all()
        return [self.signer.key_id, *(i for i in ids if i != self.signer.key_id)]

    def verdict_key(self, key_id: str | None, content: bytes, signature: str) -> str:
        """The Redis key of the remembered verdict on `signature` by `key_id` (None: the current
        key, the first one tried)."""
        check = b"|".join(
            ((key_id or self.signer.key_id).encode(), sm3(content), signature.encode())
        )
        return keys.signature_verdict(sm3(check).hex())

    def _recall(self, check: str) -> bool | None:
        if self._redis is None:
            return None
        try:
            raw = self._redis.get(check)
        except RedisError:
            return None  # verify the slow way
        return None if raw is None else raw == b"1"

    def _remember(self, check: str, genuine: bool) -> None:
        if self._redis is None:
            return
        try:
            self._redis.set(check, b"1" if genuine else b"0", ex=VERDICT_TTL)
        except RedisError:
            pass  # only a cache: the next lookup verifies again


def register(db: Session, signer: Sm2Signer) -> None:
    """Keep `signer`'s public key in the keyring (idempotent; hosts may race to add it)."""
    if db.get(SigningKey, signer.key_id) is not None:
        return
    try:
        with db.begin_nested():
            db.add(
                SigningKey(key_id=signer.key_id, public_key=signer.public_hex, added_at=utcnow())
            )
    except IntegrityError:
        pass  # another host registered it in the meantime


def adopt_unmarked(db: Session, signer: Sm2Signer) -> int:
    """Record `signer`, the one key in use until now, as the key of every certificate signed
    before the keyring (NULL); the number marked. A tampered one stays tampered: its signature
    does not verify under the key it now names either."""
    register(db, signer)
    done = db.execute(
        update(Certificate)
        .where(Certificate.signing_key.is_(None))
        .values(signing_key=signer.key_id)
    )
    return done.rowcount or 0
