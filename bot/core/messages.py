"""The dataclasses that cross the boundary between channels and the conversation core."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class MessageKind(StrEnum):
    """What the user sent, independent of the channel."""

    TEXT = "text"
    VOICE = "voice"  # text holds the recognised speech, empty when there was none
    IMAGE = "image"
    EVENT = "event"
    OTHER = "other"


def user_tag(channel: str, app_id: str, user_key: str) -> str:
    """The Redis hash tag shared by every key of one user of one channel (bot.core.keys)."""
    return "{%s:%s:%s}" % (channel, app_id, user_key)


@dataclass(frozen=True)
class Inbound:
    """One message from one user, normalised by its channel."""

    channel: str  # "wx" (Official Account), "wxa" (WeChat mini-program), "alipay"
    app_id: str
    user_key: str  # openid / Alipay user id
    msg_id: str  # unique per delivery of the same message (WeChat MsgId, or a derived id)
    kind: MessageKind
    text: str = ""
    media_id: str | None = None
    event: str | None = None  # subscribe, unsubscribe, CLICK ...
    event_key: str | None = None
    received_at: float = field(default_factory=time.time)

    def for_job(self) -> dict:
        """JSON-friendly form for job arguments: who and which message, never what was said (the
        text may hold an ID number, and RQ keeps job arguments in Redis)."""
        return {**asdict(self), "kind": self.kind.value, "text": ""}

    @classmethod
    def from_job(cls, data: dict) -> Inbound:
        """Inverse of `for_job`."""
        return cls(**{**data, "kind": MessageKind(data["kind"])})

    @property
    def user_tag(self) -> str:
        """The Redis hash tag shared by every key of this user: `{wx:<app>:<openid>}`."""
        return user_tag(self.channel, self.app_id, self.user_key)


@dataclass(frozen=True)
class Reply:
    """One message to the user; `buttons` are quick replies a mini-program may show."""

    text: str
    buttons: tuple[str, ...] = ()
    link_url: str | None = None
    link_title: str | None = None

    def to_dict(self) -> dict:
        """A JSON-friendly form, used for the retry cache and the job queue."""
        return {
            "text": self.text,
            "buttons": list(self.buttons),
            "link_url": self.link_url,
            "link_title": self.link_title,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Reply:
        """Inverse of `to_dict`."""
        return cls(
            text=data["text"],
            buttons=tuple(data.get("buttons") or ()),
            link_url=data.get("link_url"),
            link_title=data.get("link_title"),
        )


@dataclass(frozen=True)
class Effect:
    """Something with a cost or a risk that runs after the state is committed, once per message.

    `action` is the function itself, `(services, payload) -> None` (bot.core.effects and the
    features' rules define them); `queued` effects go to the RQ queue (slow: SMS, PDFs, pushes),
    the others run in-process right after the commit.
    """

    action: Callable[[Any, dict], None]
    payload: dict = field(default_factory=dict)
    queued: bool = True
    key: str = ""  # tells apart several effects of one name in one message (dedup key)

    @property
    def name(self) -> str:
        """The effect's name (its function's name)."""
        return self.action.__name__

    @property
    def claim(self) -> str:
        """The once-only key of this effect within its message."""
        return f"{self.name}:{self.key}" if self.key else self.name
