"""The few exceptions the core raises on purpose; each one has a caller that acts on it; and which
of the libraries' exceptions mean a service is away rather than a fault of ours."""

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# the database unreachable: refused, dropped, timed out, pool exhausted
DATABASE_AWAY = (OperationalError, InterfaceError, PoolTimeout)
# the database or Redis unreachable: not a flow error (the user is asked to try again)
UNAVAILABLE = (*DATABASE_AWAY, RedisConnectionError, RedisTimeoutError)


class GradcertError(Exception):
    """Base class."""


class InvalidSignature(GradcertError):
    """A callback's signature, timestamp or nonce did not check out."""


class ReplayedRequest(InvalidSignature):
    """A nonce was seen before with a different body."""


class BadPayload(GradcertError):
    """A callback body that cannot be parsed safely (malformed XML, DTDs, entities)."""


class StaleState(GradcertError):
    """The conversation state changed under us (compare-and-set failed)."""


class LockTimeout(GradcertError):
    """The per-user lock could not be taken before the deadline."""


class UnknownFlow(GradcertError):
    """Stored state names a flow that no longer exists."""


class ServiceUnavailable(GradcertError):
    """The database or Redis could not be reached during a step: nothing was saved."""
