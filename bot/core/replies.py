"""Reply texts: Jinja templates under templates/replies, one file per reply, so staff can edit them."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "templates" / "replies"


class ReplyBook:
    """Renders `templates/replies/<name>.txt` with keyword variables."""

    def __init__(self, directory: Path | str = DEFAULT_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def render(self, template: str, /, **variables) -> str:
        """The reply text, stripped of surrounding blank lines."""
        return self.env.get_template(f"{template}.txt").render(**variables).strip()

    def exists(self, template: str) -> bool:
        """True when templates/replies/<template>.txt exists."""
        try:
            self.env.get_template(f"{template}.txt")
        except TemplateNotFound:
            return False
        return True
