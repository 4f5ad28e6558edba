"""The periodic upkeep the worker runs: tickets left 7 days without a reply are closed (and their
followers told), lapsed proxies expire, and proxies and graduates are warned 7 days before a
proxy ends, and graduates are told a week before their binding must be re-confirmed; registrar
files uploaded in the console and never confirmed are dropped; from Monday 08:00 the auditors are
told last week's anomaly report is ready; security counters whose window has ended are deleted, and
the retention periods are enforced (bot.account.erasure.enforce_retention); the verification
page's lookups counted in Redis are written to SQL for the dashboard. Everything it has to
say goes out as effects of its unit of work."""

from __future__ import annotations

from bot.account.erasure import enforce_retention
from bot.appeals.notices import ticket_changed
from bot.appeals.rules import close_stale
from bot.binding import reconfirm
from bot.core.effects import push_accounts
from bot.core.messages import Effect
from bot.diploma.lookups import write_counts
from bot.platform import anomalies, counters, registrar_uploads
from bot.platform.idcard import mask_name
from bot.platform.workdays import local
from bot.proxies import rules as proxies


def sweep(s) -> int:
    """One pass in the unit of work `s`; the number of tickets closed and proxies warned."""
    counters.purge_expired(s.db)
    enforce_retention(s)
    closed = close_stale(s.db, s.now())
    for event in closed:
        s.effects.append(ticket_changed(event.appeal_id, event_id=event.id))
    _expired, warn = proxies.sweep(s.db, s.now())
    for proxy in warn:
        until = f"{local(proxy.valid_until):%Y-%m-%d}"
        told_proxy = s.book.render(
            "proxy/expiring_for_proxy", name=mask_name(proxy.student.name), until=until
        )
        s.effects.append(
            Effect(
                push_accounts,
                {"account_ids": [proxy.proxy_account_id], "text": told_proxy},
                key=f"expiring:{proxy.id}:proxy",
            )
        )
        graduates = [a.id for a in proxies.graduate_accounts(s.db, proxy.student_id)]
        told_graduate = s.book.render(
            "proxy/expiring_for_graduate",
            relation=proxies.RELATION_NAMES[proxy.relation],
            until=until,
        )
        s.effects.append(
            Effect(
                push_accounts,
                {"account_ids": graduates, "text": told_graduate},
                key=f"expiring:{proxy.id}:graduate",
            )
        )
    reminded = reconfirm.warn(s)
    registrar_uploads.drop_stale(s.db, s.now())  # files of previews nobody confirmed
    write_counts(s.redis, s.db, s.now())  # the verification page's, for the dashboard
    week = anomalies.notice_due(s.redis, s.now())
    if week is not None:
        s.effects.append(Effect(anomalies.tell_auditors, {"week": week.label}, key=week.label))
    return len(closed) + len(warn) + reminded
