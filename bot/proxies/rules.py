"""Proxies: requesting, the graduate's confirmation, the notarised document, staff review,
acting within scope, revocation and expiry. Every rule about who may act for whom lives here, and
so does what the graduate is told and the audit trail says when a proxy acts (the chat, the API and
the console call these)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import understand as text
from bot.core.effects import push_accounts
from bot.core.messages import Effect, Reply
from bot.platform import idcard
from bot.platform.attachments import fetch_attachment
from models import (
    Account,
    Attachment,
    AttachmentState,
    Binding,
    BindingState,
    Proxy,
    ProxyState,
    Relationship,
    Scope,
    as_utc,
    utcnow,
)

VALIDITY = timedelta(days=365)
WARN_BEFORE = timedelta(days=7)
RELATION_NAMES = {
    "parent": "父母",
    "spouse": "配偶",
    "child": "子女",
    "service_point": "村级事务中心",
}
# how the graduate is named to the proxy ("for 张** (your child)")
GRADUATE_AS = {
    "parent": "你的孩子",
    "spouse": "你的配偶",
    "child": "你的父母",
    "service_point": "服务对象",
}


def claimed_as(relation: str) -> str:
    """Who asks, as the graduate is told before agreeing: 自称你的父母, or the pilot's staff."""
    if relation == Relationship.SERVICE_POINT:
        return "村级事务中心（试点）工作人员"
    return f"自称你的{RELATION_NAMES[relation]}"


PENDING = (
    ProxyState.REQUESTED,
    ProxyState.AWAITING_GRADUATE,
    ProxyState.AWAITING_DOCUMENT,
    ProxyState.AWAITING_REVIEW,
)
LIVE = (*PENDING, ProxyState.ACTIVE)  # not yet refused, revoked or expired


class ProxyNotAllowed(Exception):
    """The account may not act for this graduate (any more, or in this scope). `reason` names the
    reply that tells it: templates/replies/proxy/<reason>.txt ("ended" or "out_of_scope")."""

    def __init__(self, message: str, reason: str = "ended") -> None:
        super().__init__(message)
        self.reason = reason


def locked(db: Session, proxy_id: int) -> Proxy | None:
    """The proxy row, locked for this transaction and read afresh: every state change goes
    through here, so a graduate's refusal and a proxy's late code cannot both win."""
    return db.get(Proxy, proxy_id, with_for_update={"of": Proxy}, populate_existing=True)


def active_proxy(
    db: Session,
    account_id: int,
    student_id: int,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> Proxy:
    """The account's active proxy for the student, or ProxyNotAllowed (expired ones are expired here)."""
    proxy = db.scalar(
        select(Proxy).where(
            Proxy.proxy_account_id == account_id,
            Proxy.student_id == student_id,
            Proxy.state == ProxyState.ACTIVE,
        )
    )
    if proxy is None:
        raise ProxyNotAllowed("no active proxy")
    if proxy.valid_until is not None and as_utc(proxy.valid_until) < (now or utcnow()):
        proxy.state = ProxyState.EXPIRED
        raise ProxyNotAllowed("expired")
    if scope is not None and not proxy.allows(scope):
        raise ProxyNotAllowed(f"scope {scope.value}", "out_of_scope")
    return proxy


def actives_of(db: Session, account_id: int, now: datetime | None = None) -> list[Proxy]:
    """The account's active, unexpired proxies."""
    now = now or utcnow()
    rows = db.scalars(
        select(Proxy)
        .where(Proxy.proxy_account_id == account_id, Proxy.state == ProxyState.ACTIVE)
        .order_by(Proxy.id)
    ).all()
    return [p for p in rows if p.valid_until is None or as_utc(p.valid_until) >= now]


def pending_of(db: Session, account_id: int) -> Proxy | None:
    """The account's request in progress, if any."""
    return db.scalar(
        select(Proxy)
        .where(Proxy.proxy_account_id == account_id, Proxy.state.in_(PENDING))
        .order_by(Proxy.id.desc())
        .limit(1)
    )


def of_graduate(db: Session, student_id: int) -> list[Proxy]:
    """Everyone who acts, or asked to act, for the graduate (newest first)."""
    return db.scalars(
        select(Proxy)
        .where(Proxy.student_id == student_id, Proxy.state.in_(LIVE))
        .order_by(Proxy.id.desc())
    ).all()


def request(db: Session, account_id: int, student_id: int, relation: str) -> Proxy:
    """A new request; an older unfinished one of the same account is replaced. ProxyNotAllowed
    while the account already acts for this graduate (one live authorisation per pair: revoking
    it must end the acting)."""
    try:
        active_proxy(db, account_id, student_id)
    except ProxyNotAllowed:
        pass
    else:
        raise ProxyNotAllowed("already active")
    for old in db.scalars(
        select(Proxy).where(Proxy.proxy_account_id == account_id, Proxy.state.in_(PENDING))
    ):
        old.state, old.revoked_at, old.revoked_by = ProxyState.REVOKED, utcnow(), "proxy"
    proxy = Proxy(
        proxy_account_id=account_id,
        student_id=student_id,
        relation=relation,
        state=ProxyState.AWAITING_GRADUATE,
    )
    db.add(proxy)
    db.flush()
    return proxy


def graduate_confirmed(proxy: Proxy, how: str, now: datetime | None = None) -> None:
    """The graduate agreed (by code or from their own account): next the notarised authorisation
    and staff review, for every relation (the village service point pilot too: nothing waives
    them)."""
    _expect(proxy, ProxyState.AWAITING_GRADUATE)
    proxy.confirmed_by, proxy.graduate_confirmed_at = how, now or utcnow()
    proxy.state = ProxyState.AWAITING_DOCUMENT


def document_submitted(proxy: Proxy, notarised_no: str) -> None:
    """The notarised authorisation arrived: staff review it."""
    _expect(proxy, ProxyState.AWAITING_DOCUMENT)
    proxy.notarised_no = notarised_no
    proxy.state = ProxyState.AWAITING_REVIEW


def fetch_document(s, payload: dict) -> None:
    """Effect: download the notarised authorisation's photo. One that cannot be used (the download
    failed, or not a JPEG/PNG) is not sent to staff as submitted: the request waits for the
    document again and the proxy is told, by push, to send it again."""
    fetch_attachment(s, {"attachment_id": payload["attachment_id"]})
    attachment = s.db.get(Attachment, payload["attachment_id"])
    if attachment is None or attachment.state != AttachmentState.REJECTED:
        return
    proxy = locked(s.db, attachment.proxy_id)
    if proxy is None or proxy.state != ProxyState.AWAITING_REVIEW:
        return  # reviewed or ended meanwhile: staff see the rejected photo
    proxy.state, proxy.notarised_no = ProxyState.AWAITING_DOCUMENT, None
    if s.msg is not None:
        text = s.book.render(
            "proxy/document_unusable", downloaded=attachment.error != "download failed"
        )
        s.push(s.msg.channel, s.msg.app_id, s.msg.user_key, [Reply(text)])


def activate(proxy: Proxy, now: datetime | None = None) -> None:
    """Active for one year (at most)."""
    now = now or utcnow()
    proxy.state, proxy.activated_at, proxy.valid_until = ProxyState.ACTIVE, now, now + VALIDITY


def review(
    proxy: Proxy, approve: bool, staff_id: int, note: str, now: datetime | None = None
) -> None:
    """Staff accept or refuse the notarised authorisation."""
    _expect(proxy, ProxyState.AWAITING_REVIEW)
    proxy.reviewed_by_staff_id, proxy.review_note = staff_id, note
    if approve:
        activate(proxy, now)
    else:
        proxy.state = ProxyState.REFUSED


def _expect(proxy: Proxy, state: ProxyState) -> None:
    """A request moves on only from the state it is in: a revoked one never comes back."""
    if proxy.state != state:
        raise ProxyNotAllowed(f"not {state} ({proxy.state})")


def revoke(proxy: Proxy, by: str, now: datetime | None = None) -> None:
    """Ends the proxy at once (graduate, proxy or staff)."""
    proxy.state, proxy.revoked_at, proxy.revoked_by = ProxyState.REVOKED, now or utcnow(), by


def revoked_by_graduate(s, book, proxy: Proxy) -> Effect:
    """The graduate ends a proxy (or refuses a request) in one step; audited; the proxy is told."""
    revoke(proxy, "graduate", s.now())
    s.audit("proxy_revoke", proxy.student_id, detail=f"proxy:{proxy.id}")
    told = book.render("proxy/revoked_for_proxy", name=idcard.mask_name(proxy.student.name))
    return Effect(
        push_accounts, {"account_ids": [proxy.proxy_account_id], "text": told}, key=str(proxy.id)
    )


def graduate_notice(db: Session, book, proxy: Proxy, action: str) -> Effect:
    """Tell the graduate's own accounts what their proxy just did ("查询了毕业证书")."""
    accounts = graduate_accounts(db, proxy.student_id)
    note = book.render(
        "proxy/graduate_notice",
        relation=RELATION_NAMES[proxy.relation],
        service_point=proxy.relation == Relationship.SERVICE_POINT,
        action=action,
    )
    return Effect(
        push_accounts,
        {"account_ids": [a.id for a in accounts], "text": note},
        key=f"graduate:{action}",
    )


def told_graduate(s, proxy: Proxy | None, action: str) -> list[Effect]:
    """The effects that tell the graduate what their proxy did (none when one acts for oneself)."""
    return [graduate_notice(s.db, s.book, proxy, action)] if proxy is not None else []


def audit_detail(proxy: Proxy | None, detail: str | None = None) -> str | None:
    """An audit detail that names the proxy when one acted ("<detail> proxy:<id>")."""
    if proxy is None:
        return detail
    return f"{detail} proxy:{proxy.id}" if detail else f"proxy:{proxy.id}"


def document_number(raw: str) -> str | None:
    """A notarised authorisation's number as typed, tidied (e.g. （2026）京东方证字第123号), or None."""
    number = text.clean(raw).replace(" ", "")
    return number if 4 <= len(number) <= 64 and len(re.findall(r"\d", number)) >= 3 else None


def graduate_accounts(db: Session, student_id: int) -> list[Account]:
    """The graduate's own bound accounts (to notify them)."""
    return db.scalars(
        select(Account)
        .join(Binding, Binding.account_id == Account.id)
        .where(Binding.student_id == student_id, Binding.state == BindingState.ACTIVE)
    ).all()


def code_sent_notice(db: Session, book, proxy: Proxy) -> Effect | None:
    """Tell the graduate's own bound accounts that a proxy request's code went to their phone,
    who claims to ask and how to refuse; None when no account of theirs is bound."""
    accounts = graduate_accounts(db, proxy.student_id)
    if not accounts:
        return None
    text = book.render(
        "proxy/code_sent_for_graduate",
        claimed=claimed_as(proxy.relation),
        number=proxy.id,
    )
    return Effect(
        push_accounts,
        {"account_ids": [a.id for a in accounts], "text": text},
        key=f"code_notice:{proxy.id}",
    )


def sweep(db: Session, now: datetime | None = None) -> tuple[list[Proxy], list[Proxy]]:
    """(newly expired, to warn): expire the lapsed, pick those ending within 7 days not yet warned."""
    now = now or utcnow()
    expired, warn = [], []
    for proxy in db.scalars(select(Proxy).where(Proxy.state == ProxyState.ACTIVE)):
        until = as_utc(proxy.valid_until)
        if until < now:
            proxy.state = ProxyState.EXPIRED
            expired.append(proxy)
        elif until - now <= WARN_BEFORE and proxy.expiry_warned_at is None:
            proxy.expiry_warned_at = now
            warn.append(proxy)
    return expired, warn
