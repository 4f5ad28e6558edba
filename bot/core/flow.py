"""What every flow gets (`Context`) and returns (`Outcome`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.core.messages import Effect, Inbound, Reply
from bot.core.replies import ReplyBook
from bot.core.state import Conversation


@dataclass
class Outcome:
    """The result of one step: the new state, what to say, what to do after the commit."""

    conversation: Conversation
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)


@dataclass
class Context:
    """One message's view of the world: the message, the services, the reply texts."""

    msg: Inbound
    services: Any  # bot.core.unit.Services; Any keeps flows testable with lighter fakes
    book: ReplyBook
    # bot.router.start: enter another flow (the router puts it here)
    start: Callable[..., Outcome] | None = None
    expired: bool = False  # an unfinished conversation ran out of time before this message
    lost: bool = False  # ...or was lost with Redis (restarted without its data): said so

    def say(self, template: str, /, *buttons: str, **variables) -> Reply:
        """A reply rendered from templates/replies/<name>.txt."""
        return Reply(self.book.render(template, **variables), buttons=tuple(buttons))

    def reply(self, conv: Conversation, template: str, /, *buttons: str, **variables) -> Outcome:
        """The common case: move to `conv` and say one thing."""
        return Outcome(conv, [self.say(template, *buttons, **variables)])

    def retry(self, conv: Conversation, template: str, /, *buttons: str, **variables) -> Outcome:
        """Same step again after a mistake: from the second mistake a simpler explanation (the
        template's `_simple` variant, where there is one), from the third also the offline route."""
        mistakes = int(conv.data.get("mistakes", 0)) + 1
        if mistakes >= 2 and self.book.exists(f"{template}_simple"):
            template = f"{template}_simple"
        outcome = Outcome(
            conv.with_data(mistakes=mistakes), [self.say(template, *buttons, **variables)]
        )
        if mistakes >= 3:
            outcome.replies.append(self.say("system/offline_route"))
        return outcome
