"""Reply texts: Jinja templates under templates/replies, one file per reply, so staff can edit them.

Every surface renders the same file: the chat as it is, the mini-program API with
`surface="api"`, which leaves out what only makes sense in a chat (`{% if surface == "chat" %}
回复1…{% endif %}`). `minutes` is how every reply and page rounds a wait."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from bot.core.college import College

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "templates" / "replies"


@dataclass(frozen=True)
class Refused:
    """A refusal as every surface tells it: a stable code (the API's `error.code`), the reply
    template that words it, and the template's values. Rules return it; scripts render it, the
    API renders it with `surface="api"`."""

    code: str
    template: str
    values: dict = field(default_factory=dict)
    reason: str | None = None  # the finer cause, for clients: the ID problem, the OTP limit


_PLAIN = (str, int, bool, type(None))


class ReplyBook:
    """Renders `templates/replies/<name>.txt` with keyword variables; every template also sees
    `college` (bot.core.college.College: the office, telephone, campus names of the config).

    A text rendered from plain values (strings, numbers, None) is kept for the next render with
    the same values: the menu, asked all day, costs a dictionary look-up. At most `KEEP` texts, for
    `KEEP_SECONDS` each, in this process's memory only (a reply may name its reader: it is not
    kept longer than a minute, nor anywhere else)."""

    KEEP = 1024
    KEEP_SECONDS = 60.0

    def __init__(self, directory: Path | str = DEFAULT_DIR, college: College | None = None) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,
            auto_reload=False,  # compiled once per process: a change of wording needs a restart
            cache_size=-1,
        )
        self.env.globals["surface"] = "chat"
        self.college = college or College()
        self.env.globals["college"] = self.college
        self.rendered: dict[tuple, tuple[str, float]] = {}

    def render(self, template: str, /, **variables) -> str:
        """The reply text, stripped of surrounding blank lines."""
        key = None
        now = time.monotonic()
        if all(type(v) in _PLAIN for v in variables.values()):
            key = (template, *variables.items())
            kept = self.rendered.get(key)
            if kept is not None and kept[1] > now:
                return kept[0]
        text = self.env.get_template(f"{template}.txt").render(**variables).strip()
        if key is not None:
            if len(self.rendered) >= self.KEEP:
                self.rendered.clear()
            self.rendered[key] = (text, now + self.KEEP_SECONDS)
        return text

    def exists(self, template: str) -> bool:
        """True when templates/replies/<template>.txt exists."""
        try:
            self.env.get_template(f"{template}.txt")
        except TemplateNotFound:
            return False
        return True


def minutes(seconds: int) -> int:
    """A wait in whole minutes, rounded up, at least 1 (59 s and 60 s are both "1分钟")."""
    return max(1, (int(seconds) + 59) // 60)
