"""E-mail notices over SMTP (smtplib), for graduates who gave an address: the ticket number and
its new status only, like the SMS notice. Off unless SMTP_HOST is set."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


class MailError(Exception):
    """The server refused or could not be reached; the message names no address."""


@dataclass(frozen=True)
class Mailer:
    """One SMTP server (STARTTLS when asked, login when a user is set)."""

    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 10.0

    def send(self, to: str, subject: str, body: str) -> None:
        """Send one plain-text message; MailError on failure."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"smtp: {type(exc).__name__}") from None


def make_mailer(config: Mapping[str, object]) -> Mailer | None:
    """The mailer of the SMTP_* settings, or None when SMTP_HOST is empty (no e-mail)."""
    host = str(config.get("SMTP_HOST") or "").strip()
    if not host:
        return None
    return Mailer(
        host=host,
        port=int(config.get("SMTP_PORT") or 25),
        sender=str(config.get("SMTP_FROM") or "gradcert@localhost"),
        user=str(config.get("SMTP_USER") or ""),
        password=str(config.get("SMTP_PASSWORD") or ""),
        starttls=bool(int(config.get("SMTP_STARTTLS") or 0)),
    )
