"""The effects every feature uses: what runs after a unit of work is committed, once per message.

An effect is a plain function `(services, payload) -> None`, named by reference in an `Effect`;
the features keep their own beside their rules (send_otp_sms and notify_displaced in
bot/binding/rules.py, render_certificate in bot/diploma/files.py, fetch_attachment in
bot/platform/attachments.py). Queued effects run in an RQ worker, the others right after the commit.
"""

from __future__ import annotations

import logging

from bot.core.messages import Reply
from bot.core.unit import Services
from models import Account

log = logging.getLogger(__name__)


def account_subscribed(services: Services, payload: dict) -> None:
    """The user followed the Official Account."""
    services.account.subscribed = True


def account_unsubscribed(services: Services, payload: dict) -> None:
    """The user unfollowed: we can no longer push to them."""
    services.account.subscribed = False


def forget_user(services: Services, payload: dict) -> None:
    """删除我的信息: what Redis holds of the user (conversation, cached replies, sessions, codes);
    not the abuse counters, or deleting would reset the limits on guessing identities and codes."""
    tag = services.msg.user_tag
    services.domain.forget_user(tag, services.msg.msg_id)
    services.otp.forget(tag)
    for other in payload.get("tags", []):  # the person's other accounts (bot.account.erasure)
        services.domain.forget_user(other, None)
        services.otp.forget(other)


def push_accounts(services: Services, payload: dict) -> None:
    """A message to other accounts (a graduate about their proxy, a proxy about a decision)."""
    for account_id in payload["account_ids"]:
        account = services.db.get(Account, account_id)
        if account is not None:
            services.push(
                account.channel, account.app_id, account.user_key, [Reply(payload["text"])]
            )


def push_text(services: Services, payload: dict) -> None:
    """One text to one user of a channel (staff decisions about proxies)."""
    services.push(
        payload["channel"], payload["app_id"], payload["user_key"], [Reply(payload["text"])]
    )
