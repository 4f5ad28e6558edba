"""The few exceptions the core raises on purpose; each one has a caller that acts on it."""


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
