"""What the staff console shows and does with proxy authorisations (代办授权): the queue (those
awaiting review first, oldest first), one request with the graduate's record (masked unless
revealed) and the notarised authorisation, and the staff decisions: approve within a scope,
refuse, revoke. Each decision returns the texts to push to the proxy and to the graduate (a
Decision); the caller commits, then queues them.

Nothing here imports Flask: the console views call these functions with a SQL session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from bot.core.replies import ReplyBook
from bot.platform.crypto import PiiCipher
from bot.platform.idcard import mask, mask_name, mask_phone
from bot.platform.workdays import local
from bot.proxies import rules as proxies
from bot.understand import free_text
from models import (
    Account,
    Attachment,
    AttachmentState,
    AuditEvent,
    Proxy,
    ProxyState,
    Relationship,
    Scope,
    StaffUser,
    Student,
    utcnow,
)

PAGE_SIZE = 50
NOTE_LIMIT = 100  # a refusal or revocation note is sent in the chat: one phone screen in all
STATE_NAMES = {
    ProxyState.AWAITING_REVIEW: "待审核",
    ProxyState.REQUESTED: "申请中",
    ProxyState.AWAITING_GRADUATE: "等待毕业生同意",
    ProxyState.AWAITING_DOCUMENT: "等待公证书",
    ProxyState.ACTIVE: "代办中",
    ProxyState.REFUSED: "未通过",
    ProxyState.REVOKED: "已撤销",
    ProxyState.EXPIRED: "已过期",
}
SCOPE_NAMES = {
    Scope.LOOKUP: "查询毕业证书",
    Scope.CERTIFICATE: "开电子证明",
    Scope.APPEAL: "提交异议",
}
CHANNEL_NAMES = {"wx": "微信公众号", "wxa": "微信小程序", "alipay": "支付宝小程序"}
CONFIRMED_BY = {
    "sms_code": "验证码发到毕业生登记的手机，由代办人转告",
    "graduate_account": "毕业生在自己的账号里回复“同意代办”",
}
REVOKED_BY = {"graduate": "毕业生", "proxy": "代办人", "staff": "工作人员"}
ATTACHMENT_NAMES = {
    AttachmentState.STORED: "已收到",
    AttachmentState.PENDING: "下载中",
    AttachmentState.REJECTED: "无法使用",
    "": "无照片",
}


class ReviewRefused(ValueError):
    """A staff decision that was not made; the message (Chinese) says why."""


@dataclass(frozen=True)
class Push:
    """One text to one user of a channel (the `push_text` effect after the commit)."""

    channel: str
    app_id: str
    user_key: str
    text: str


@dataclass(frozen=True)
class ProxyFilters:
    """The proxy queue's filter as the query string carries it: "" (all states) or one state."""

    state: str = ""

    @classmethod
    def from_args(cls, args) -> ProxyFilters:
        """From a mapping of query arguments; an unknown state falls back to all."""
        state = args.get("state") or ""
        return cls(state=state if state in STATE_NAMES else "")

    def as_args(self) -> dict:
        """The non-default filters, for links."""
        return {"state": self.state} if self.state else {}


def mask_notarised(number: str | None) -> str:
    """`(202****3号`: the first 4 and the last 2 characters (all hidden when that would show it all)."""
    if not number:
        return "—"
    if len(number) <= 6:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 6) + number[-2:]


def _submitted_at():
    """When the authorisation reached review: its first photo (or the request, without one)."""
    first_photo = (
        select(func.min(Attachment.created_at))
        .where(Attachment.proxy_id == Proxy.id)
        .correlate(Proxy)
        .scalar_subquery()
    )
    return func.coalesce(first_photo, Proxy.created_at)


def _queue_query(filters: ProxyFilters) -> Select:
    query = select(Proxy)
    if filters.state:
        query = query.where(Proxy.state == filters.state)
    return query


@dataclass
class ProxyRow:
    """One line of the proxy queue, with its labels worked out."""

    proxy: Proxy
    relation: str
    state: str
    graduate: str
    channel: str
    submitted_at: datetime
    notarised_no: str
    photos: str


@dataclass
class ProxyPage:
    """One page of the proxy queue, and how many wait for review in all."""

    rows: list[ProxyRow]
    total: int
    page: int
    pages: int
    awaiting: int


def photo_state(attachments: list[Attachment]) -> str:
    """The photos of one request in a word: received, still downloading, unusable or none."""
    states = {a.state for a in attachments}
    for state in (AttachmentState.STORED, AttachmentState.PENDING, AttachmentState.REJECTED):
        if state in states:
            count = sum(a.state == state for a in attachments)
            return ATTACHMENT_NAMES[state] + (f"（{count} 张）" if count > 1 else "")
    return ATTACHMENT_NAMES[""]


def queue_page(db: Session, filters: ProxyFilters, page: int = 1) -> ProxyPage:
    """One page (50 rows): awaiting review first, oldest submission first; then the rest, newest first."""
    query = _queue_query(filters)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    awaiting = Proxy.state == ProxyState.AWAITING_REVIEW
    submitted = _submitted_at()
    rows = db.execute(
        query.add_columns(submitted)
        .order_by(
            case((awaiting, 0), else_=1),
            case((awaiting, submitted)).asc(),
            Proxy.id.desc(),
        )
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    ids = [proxy.id for proxy, _ in rows]
    photos: dict[int, list[Attachment]] = {i: [] for i in ids}
    for attachment in db.scalars(
        select(Attachment).where(Attachment.proxy_id.in_(ids)).order_by(Attachment.id)
    ):
        photos[attachment.proxy_id].append(attachment)
    channels = dict(
        db.execute(
            select(Account.id, Account.channel).where(
                Account.id.in_([p.proxy_account_id for p, _ in rows])
            )
        ).all()
    )
    out = [
        ProxyRow(
            p,
            proxies.RELATION_NAMES.get(p.relation, p.relation),
            STATE_NAMES.get(p.state, p.state),
            mask_name(p.student.name),
            CHANNEL_NAMES.get(channels.get(p.proxy_account_id, ""), "—"),
            at,
            mask_notarised(p.notarised_no),
            photo_state(photos[p.id]),
        )
        for p, at in rows
    ]
    count = db.scalar(select(func.count()).select_from(Proxy).where(awaiting)) or 0
    return ProxyPage(out, total, page, pages, count)


def attachments_of(db: Session, proxy: Proxy) -> list[Attachment]:
    """The photos sent for the request, oldest first."""
    return list(
        db.scalars(
            select(Attachment).where(Attachment.proxy_id == proxy.id).order_by(Attachment.id)
        )
    )


@dataclass
class Graduate:
    """The graduate a proxy acts for, masked unless revealed."""

    name: str
    id_number: str
    student_no: str
    phone: str
    bound_accounts: int


def graduate_of(db: Session, cipher: PiiCipher, proxy: Proxy, reveal: bool) -> Graduate:
    """The graduate's record: name, ID number and phone masked unless `reveal`."""
    student: Student = proxy.student

    def shown(value: str | None, masker) -> str:
        return "—" if not value else (value if reveal else masker(value))

    return Graduate(
        name=shown(student.name, mask_name),
        id_number=shown(
            cipher.open_or_none(student.id_number_enc, student.pii_key_version, b"id"), mask
        ),
        student_no=student.student_no or "—",
        phone=shown(
            cipher.open_or_none(student.phone_enc, student.pii_key_version, b"phone"), mask_phone
        ),
        bound_accounts=len(proxies.graduate_accounts(db, student.id)),
    )


def reviewer_name(db: Session, proxy: Proxy) -> str | None:
    """The display name of the staff member who decided, if any."""
    if proxy.reviewed_by_staff_id is None:
        return None
    return db.scalar(
        select(StaffUser.display_name).where(StaffUser.id == proxy.reviewed_by_staff_id)
    )


def staff_revocation(db: Session, proxy: Proxy) -> tuple[str, str] | None:
    """(staff username, note) of a revocation by staff, from the audit trail."""
    if proxy.revoked_by != "staff":
        return None
    row = db.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.action == "proxy_revoke",
            AuditEvent.result == "ok",
            AuditEvent.detail.like(f"{revoke_detail(proxy, '')}%"),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    return row.actor_staff or "—", (row.detail or "")[len(revoke_detail(proxy, "")) :]


def revoke_detail(proxy: Proxy, note: str) -> str:
    """The audit detail of a staff revocation (the note is kept there)."""
    return f"proxy:{proxy.id} staff: {note}"


# -- decisions ---------------------------------------------------------------------------------------
def checked_note(note: str | None) -> str:
    """A required note of at most NOTE_LIMIT characters; raises ReviewRefused."""
    note = " ".join(free_text(note).split())
    if not note:
        raise ReviewRefused("请填写说明。")
    if len(note) > NOTE_LIMIT:
        raise ReviewRefused(f"说明不能超过 {NOTE_LIMIT} 个字（会发送到对方的手机上）。")
    return note


def checked_scope(values: list[str]) -> str:
    """The ticked scopes in their canonical order, e.g. "lookup,appeal"; raises ReviewRefused."""
    picked = set(values)
    if not picked or not picked <= set(SCOPE_NAMES):
        raise ReviewRefused("请至少勾选一项代办范围。")
    return ",".join(s.value for s in Scope if s.value in picked)


def scope_text(scope: str) -> str:
    """ "查询毕业证书、提交异议"."""
    return "、".join(SCOPE_NAMES[s] for s in scope.split(",") if s in SCOPE_NAMES)


@dataclass(frozen=True)
class Decision:
    """What to push after the commit: to the proxy, and to the graduate's own accounts (maybe none)."""

    to_proxy: list[Push]
    to_graduate: list[Push]

    @property
    def pushes(self) -> list[Push]:
        return self.to_proxy + self.to_graduate


def _pushes(accounts: list[Account | None], text: str) -> list[Push]:
    return [Push(a.channel, a.app_id, a.user_key, text) for a in accounts if a is not None]


def _expect(proxy: Proxy, state: ProxyState) -> None:
    if proxy.state != state:
        raise ReviewRefused(
            f"该申请当前状态是“{STATE_NAMES.get(proxy.state, proxy.state)}”，不能这样操作。请刷新后查看。"
        )


def approve(
    db: Session,
    proxy: Proxy,
    staff: StaffUser,
    note: str,
    scopes: list[str],
    book: ReplyBook,
    now: datetime | None = None,
) -> Decision:
    """Accept the notarised authorisation within the ticked scope; the proxy and the graduate are told."""
    _expect(proxy, ProxyState.AWAITING_REVIEW)
    note, scope = checked_note(note), checked_scope(scopes)
    if not any(a.state == AttachmentState.STORED for a in attachments_of(db, proxy)):
        raise ReviewRefused(
            "还没有收到能查看的公证书照片，不能通过。可以选择不通过，请对方重新拍照提交。"
        )
    proxies.review(proxy, True, staff.id, note, now or utcnow())
    proxy.scope = scope
    until = f"{local(proxy.valid_until):%Y-%m-%d}"
    to_proxy = book.render(
        "proxy/review_approved",
        name=mask_name(proxy.student.name),
        who=proxies.GRADUATE_AS[proxy.relation],
        scopes=scope_text(scope),
        until=until,
    )
    to_graduate = book.render(
        "proxy/review_graduate_notice",
        service_point=proxy.relation is Relationship.SERVICE_POINT,
        relation=proxies.RELATION_NAMES[proxy.relation],
        scopes=scope_text(scope),
        until=until,
    )
    return Decision(
        _pushes([db.get(Account, proxy.proxy_account_id)], to_proxy),
        _pushes(proxies.graduate_accounts(db, proxy.student_id), to_graduate),
    )


def refuse(
    db: Session,
    proxy: Proxy,
    staff: StaffUser,
    note: str,
    book: ReplyBook,
    now: datetime | None = None,
) -> Decision:
    """Refuse the authorisation; the proxy is told why."""
    _expect(proxy, ProxyState.AWAITING_REVIEW)
    note = checked_note(note)
    proxies.review(proxy, False, staff.id, note, now or utcnow())
    text = book.render("proxy/review_refused", name=mask_name(proxy.student.name), note=note)
    return Decision(_pushes([db.get(Account, proxy.proxy_account_id)], text), [])


def revoke(
    db: Session, proxy: Proxy, note: str, book: ReplyBook, now: datetime | None = None
) -> Decision:
    """Staff end an active proxy at once; both sides are told why."""
    _expect(proxy, ProxyState.ACTIVE)
    note = checked_note(note)
    proxies.revoke(proxy, "staff", now or utcnow())
    to_proxy = book.render(
        "proxy/staff_revoked_for_proxy", name=mask_name(proxy.student.name), note=note
    )
    to_graduate = book.render(
        "proxy/staff_revoked_for_graduate",
        service_point=proxy.relation is Relationship.SERVICE_POINT,
        relation=proxies.RELATION_NAMES[proxy.relation],
        note=note,
    )
    return Decision(
        _pushes([db.get(Account, proxy.proxy_account_id)], to_proxy),
        _pushes(proxies.graduate_accounts(db, proxy.student_id), to_graduate),
    )
