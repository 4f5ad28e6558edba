"""Effects by name: what runs after a conversation step is committed, once per message.

Each effect takes the message's `Services` and the payload the flow gave it. Queued effects run
in an RQ worker; the others run in the web process right after the commit.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.services import Services

EffectFn = Callable[[Services, dict], None]
EFFECTS: dict[str, EffectFn] = {}


def effect(name: str) -> Callable[[EffectFn], EffectFn]:
    """Register an effect function under `name`."""

    def register(fn: EffectFn) -> EffectFn:
        EFFECTS[name] = fn
        return fn

    return register


@effect("account_subscribed")
def account_subscribed(services: Services, payload: dict) -> None:
    """The user followed the Official Account."""
    services.account.subscribed = True


@effect("account_unsubscribed")
def account_unsubscribed(services: Services, payload: dict) -> None:
    """The user unfollowed: we can no longer push to them."""
    services.account.subscribed = False
