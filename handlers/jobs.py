"""RQ job functions. They run in the worker, inside the app context that `gradcert worker` opens."""

from __future__ import annotations

from flask import current_app

from bot.core.messages import Effect, Reply
from handlers.runtime import inbound_from_dict


def _runtime():
    return current_app.extensions["gradcert"]


def run_effect(name: str, payload: dict, inbound: dict) -> None:
    """A queued effect of one message."""
    _runtime().run_effect(Effect(name, payload), inbound_from_dict(inbound))


def push_replies(inbound: dict, replies: list[dict]) -> None:
    """Replies that missed the callback deadline, through the push API."""
    _runtime().push(inbound_from_dict(inbound), [Reply.from_dict(r) for r in replies])


def notify_appeal(appeal_id: int, note: str | None = None, event_id: int | None = None) -> None:
    """Tell whoever follows the ticket that it changed: the filer (a proxy only while it may still
    act in appeals) and, for a ticket a proxy filed, the graduate. With `event_id` the message is
    that change's status, even when the ticket has moved on before this job runs."""
    from bot.appeals import rules as appeals
    from bot.appeals.notices import appeal_notice
    from models import Appeal, AppealEvent

    rt = _runtime()
    with rt.sessions() as db:
        appeal = db.get(Appeal, appeal_id)
        if appeal is None:
            return
        changed = appeals.as_changed(appeal, db.get(AppealEvent, event_id) if event_id else None)
        text, notice = appeals.status_message(changed, note), appeal_notice(changed, note)
        targets = [(a.channel, a.app_id, a.user_key) for a in appeals.followers(db, appeal, rt.domain.clock())]
    for channel, app_id, user_key in targets:
        rt.push_to(channel, app_id, user_key, [Reply(text)], notice=notice)


def sweep() -> int:
    """Periodic upkeep: close tickets left 7 days without a reply (and tell their filers); expire
    lapsed proxies and warn proxies and graduates 7 days before a proxy ends."""
    from bot.appeals.rules import close_stale
    from bot.platform.idcard import mask_name
    from bot.platform.workdays import local
    from bot.proxies import rules as proxies
    from models import Account

    rt = _runtime()
    book = rt.book
    pushes = []
    with rt.sessions() as db:
        closed = [(e.appeal_id, e.id) for e in close_stale(db, rt.domain.clock())]
        _expired, warn = proxies.sweep(db, rt.domain.clock())
        for proxy in warn:
            until = f"{local(proxy.valid_until):%Y-%m-%d}"
            pushes.append((db.get(Account, proxy.proxy_account_id), book.render(
                "proxy/expiring_for_proxy", name=mask_name(proxy.student.name), until=until)))
            for account in proxies.graduate_accounts(db, proxy.student_id):
                pushes.append((account, book.render(
                    "proxy/expiring_for_graduate", relation=proxies.RELATION_NAMES[proxy.relation], until=until)))
        db.commit()
        targets = [(a.channel, a.app_id, a.user_key, text) for a, text in pushes if a is not None]
    for appeal_id, event_id in closed:
        rt.queue.enqueue("handlers.jobs.notify_appeal", appeal_id, "7天没有回复，申请已自动关闭。如仍有问题请重新提交。",
                         event_id)
    for channel, app_id, user_key, text in targets:
        rt.queue.enqueue("handlers.jobs.push_text", channel, app_id, user_key, text)
    return len(closed) + len(warn)


def push_text(channel: str, app_id: str, user_key: str, text: str) -> None:
    """One text to one user of a channel."""
    _runtime().push_to(channel, app_id, user_key, [Reply(text)])
