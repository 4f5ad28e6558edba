"""Appeal tickets: categories and what each needs, ticket numbers, due dates in working days, the
lifecycle (who may move a ticket where), and the message the filer gets on every change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.binding.rules import active_binding
from bot.core.college import College
from bot.platform.workdays import add_working_days, local, today_in_china
from bot.proxies import rules as proxies
from models import (
    OPEN_STATUSES,
    Account,
    Appeal,
    AppealEvent,
    AppealEventKind,
    AppealStatus,
    Scope,
    as_utc,
    utcnow,
)

MAX_OPEN = 3
DUE_WORKING_DAYS = 5
URGENT_DUE_WORKING_DAYS = 2
CLOSE_AFTER = timedelta(days=7)
DESCRIPTION_LIMIT = 500


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    needs: str | None  # the document the category needs, as photos; None = photos optional
    noun: str = "异议申请"  # what the filer is told the ticket is
    resolved_hint: str = "回复2可以重新查询证书。"  # told with a resolution
    prefix: str = "GA"  # of its ticket numbers


CATEGORIES = [
    Category("name_spelling", "姓名拼音或用字和登记的不一样", None),
    Category("id_x", "身份证号最后一位X的问题", None),
    Category("name_change", "改过名字", "派出所出具的姓名变更证明"),
    Category("three_plus_two", "3+2（中职转高职）", "中职阶段的学籍或毕业证明"),
    Category("military", "部队（军培办）培养", "军培办审批表"),
    Category("joint_training", "联合培养，学籍还没注册", "联合培养协议或录取通知书"),
    Category("status_change", "休学、转学等学籍异动还没办完", "学籍异动审批表"),
    Category("migration_loss", "早年数据迁移时丢失", "毕业证书照片"),
    Category("other", "以上都不是（信息有误或查不到）", None),
]
# A lost certificate (证书遗失, bot/lost) is a ticket of its own: filed through its own form, never
# picked among the causes above, handled and told with the same lifecycle.
LOST = Category(
    "lost_certificate",
    "证书遗失，补办学历证明书",
    "身份证正反面和本人签名的遗失声明",
    noun="证书遗失申请",
    resolved_hint="学历证明书已办好：自取的请带身份证到{visit}领取；邮寄的会寄到你填的地址。",
    prefix="GL",
)
BY_KEY = {c.key: c for c in [*CATEGORIES, LOST]}
CAUSES = {c.key for c in CATEGORIES}  # what an appeal may be filed as

# Every status a staff action may lead to, from each status.
TRANSITIONS = {
    AppealStatus.SUBMITTED: {
        AppealStatus.UNDER_REVIEW,
        AppealStatus.NEED_MORE_INFO,
        AppealStatus.RESOLVED,
        AppealStatus.REJECTED,
    },
    AppealStatus.UNDER_REVIEW: {
        AppealStatus.NEED_MORE_INFO,
        AppealStatus.RESOLVED,
        AppealStatus.REJECTED,
    },
    AppealStatus.NEED_MORE_INFO: {
        AppealStatus.UNDER_REVIEW,
        AppealStatus.RESOLVED,
        AppealStatus.REJECTED,
    },
    AppealStatus.RESOLVED: {AppealStatus.UNDER_REVIEW, AppealStatus.CLOSED},
    AppealStatus.REJECTED: {AppealStatus.UNDER_REVIEW, AppealStatus.CLOSED},
    AppealStatus.CLOSED: set(),
}
NEXT_ROUTES = {
    "chsi": "到学信网（www.chsi.com.cn）申请“学历认证”",
    "window": "带身份证和相关材料到{visit}办理{phone_note}",  # the office: bot.core.college
}
STATUS_NAMES = {
    "submitted": "已提交",
    "under_review": "处理中",
    "need_more_info": "需要补充材料",
    "resolved": "已解决",
    "rejected": "未通过",
    "closed": "已关闭",
}


class TransitionNotAllowed(Exception):
    """A status change the lifecycle does not allow; `needs_route` when only the next route (of a
    rejection) was missing."""

    def __init__(self, message: str, needs_route: bool = False) -> None:
        super().__init__(message)
        self.needs_route = needs_route


def due_date(filed: date, urgent: bool) -> date:
    """Five working days (two when urgent) after filing."""
    return add_working_days(filed, URGENT_DUE_WORKING_DAYS if urgent else DUE_WORKING_DAYS)


def open_count(db: Session, account_id: int, now: datetime | None = None) -> int:
    """How many open tickets this account filed and still follows (a revoked proxy's tickets are
    the graduate's now, and do not count against the proxy)."""
    rows = db.scalars(
        select(Appeal).where(Appeal.account_id == account_id, Appeal.status.in_(OPEN_STATUSES))
    ).all()
    return sum(1 for a in rows if filer_may_follow(db, a, now))


def file_appeal(db: Session, appeal: Appeal, now: datetime | None = None) -> Appeal:
    """Give the ticket its number and due date and write it with its first event."""
    now = now or utcnow()
    filed = today_in_china(now)
    appeal.created_at = appeal.updated_at = appeal.status_changed_at = now
    appeal.status = AppealStatus.SUBMITTED
    appeal.due_date = due_date(filed, appeal.urgent)
    category = BY_KEY.get(appeal.category)
    prefix = f"{category.prefix if category else 'GA'}{filed:%Y%m%d}-"
    for _ in range(5):
        last = db.scalar(
            select(func.max(Appeal.ticket_no)).where(Appeal.ticket_no.like(prefix + "%"))
        )
        appeal.ticket_no = f"{prefix}{(int(last[-4:]) + 1) if last else 1:04d}"
        try:
            with db.begin_nested():
                db.add(appeal)
                db.flush()
            break
        except IntegrityError:  # another ticket took the number: take the next
            continue
    db.add(
        AppealEvent(
            appeal_id=appeal.id,
            kind=AppealEventKind.SUBMITTED,
            to_status=appeal.status,
            actor_account_id=appeal.account_id,
            at=now,
        )
    )
    return appeal


def change_status(
    db: Session,
    appeal: Appeal,
    to: AppealStatus,
    note: str,
    *,
    staff_id: int | None = None,
    next_route: str | None = None,
    now: datetime | None = None,
) -> AppealEvent:
    """Move a ticket, with the reason; raises TransitionNotAllowed."""
    current = AppealStatus(appeal.status)
    if to not in TRANSITIONS[current]:
        raise TransitionNotAllowed(f"{current.value} -> {to.value}")
    if to is AppealStatus.REJECTED and next_route not in NEXT_ROUTES:
        raise TransitionNotAllowed("a rejection needs the next route", needs_route=True)
    if to in (AppealStatus.RESOLVED, AppealStatus.REJECTED):
        appeal.resolution = note
        appeal.next_route = next_route if to is AppealStatus.REJECTED else None
    event = record_move(db, appeal, to, now or utcnow(), note=note, staff_id=staff_id)
    db.flush()  # an id for the notice that follows the commit
    return event


def record_move(
    db: Session,
    appeal: Appeal,
    to: AppealStatus,
    now: datetime,
    *,
    note: str | None = None,
    staff_id: int | None = None,
    account_id: int | None = None,
) -> AppealEvent:
    """The ticket moved to `to` at `now`, and the timeline's event saying so (who moved it, why);
    the caller has checked that the move is allowed."""
    event = AppealEvent(
        appeal_id=appeal.id,
        kind=AppealEventKind.STATUS,
        from_status=appeal.status,
        to_status=to,
        actor_staff_id=staff_id,
        actor_account_id=account_id,
        note=note,
        at=now,
    )
    db.add(event)
    appeal.status = to
    appeal.updated_at = appeal.status_changed_at = now
    return event


def lock_open(db: Session, appeal: Appeal) -> None:
    """Lock the ticket's row and re-read it; TransitionNotAllowed when it is no longer open (staff
    or the 7-day sweep may have moved it since it was read)."""
    db.refresh(appeal, with_for_update=True)
    if appeal.status not in OPEN_STATUSES:
        raise TransitionNotAllowed(f"{appeal.status}: closed")


def add_information(
    db: Session, appeal: Appeal, account_id: int, note: str, now: datetime | None = None
) -> None:
    """Information added by whoever follows the ticket (after lock_open); a ticket waiting for it
    goes back to review."""
    now = now or utcnow()
    db.add(
        AppealEvent(
            appeal_id=appeal.id,
            kind=AppealEventKind.INFO,
            actor_account_id=account_id,
            note=note[:DESCRIPTION_LIMIT],
            at=now,
        )
    )
    appeal.updated_at = now
    if appeal.status == AppealStatus.NEED_MORE_INFO:
        record_move(db, appeal, AppealStatus.UNDER_REVIEW, now, account_id=account_id)


def filer_may_follow(db: Session, appeal: Appeal, now: datetime | None = None) -> bool:
    """The filer follows their ticket; a proxy follows one filed for a graduate only while the
    proxy may still act in appeals (revoked or expired: the graduate's ticket is theirs alone)."""
    if appeal.acting_for_student_id is None:
        return True
    try:
        proxies.active_proxy(db, appeal.account_id, appeal.acting_for_student_id, Scope.APPEAL, now)
    except proxies.ProxyNotAllowed:
        return False
    return True


def may_follow(db: Session, appeal: Appeal, account: Account, now: datetime | None = None) -> bool:
    """Whether the account sees the ticket and may add to it: its own (see filer_may_follow), or,
    for a bound graduate, one a proxy filed for them."""
    return _may_follow(db, appeal, account.id, _own_student_id(db, account), now)


def followed(
    db: Session,
    account: Account,
    now: datetime | None = None,
    limit: int = 50,
    status: AppealStatus | None = None,
) -> list[Appeal]:
    """The tickets an account sees and may add to (may_follow), newest first; of one status if given."""
    own = _own_student_id(db, account)
    mine = Appeal.account_id == account.id
    if own is not None:
        mine = or_(mine, Appeal.acting_for_student_id == own)
    query = select(Appeal).where(mine).order_by(Appeal.created_at.desc())
    if status is not None:
        query = query.where(Appeal.status == status)
    return [a for a in db.scalars(query) if _may_follow(db, a, account.id, own, now)][:limit]


def _may_follow(
    db: Session, appeal: Appeal, account_id: int, own_student_id: int | None, now: datetime | None
) -> bool:
    if own_student_id is not None and appeal.acting_for_student_id == own_student_id:
        return True
    return appeal.account_id == account_id and filer_may_follow(db, appeal, now)


def _own_student_id(db: Session, account: Account) -> int | None:
    bound = active_binding(db, account)
    return bound.student_id if bound is not None else None


def followers(db: Session, appeal: Appeal, now: datetime | None = None) -> list[Account]:
    """Who is told of a change: the filer while they follow it, and the graduate a proxy filed for."""
    told = []
    filer = db.get(Account, appeal.account_id)
    if filer is not None and filer_may_follow(db, appeal, now):
        told.append(filer)
    if appeal.acting_for_student_id is not None:
        told += [
            a
            for a in proxies.graduate_accounts(db, appeal.acting_for_student_id)
            if a.id != appeal.account_id
        ]
    return told


def waiting_for_information(
    db: Session, account: Account, now: datetime | None = None
) -> Appeal | None:
    """The followed ticket that most recently started waiting for more information."""
    waiting = followed(db, account, now, status=AppealStatus.NEED_MORE_INFO)
    return max(waiting, key=lambda a: as_utc(a.status_changed_at), default=None)


@dataclass(frozen=True)
class TicketView:
    """A ticket as one of its changes left it: what a notice about that change tells."""

    id: int
    ticket_no: str
    category: str
    status: str
    next_route: str | None
    due_date: date
    status_changed_at: datetime


def as_changed(appeal: Appeal, event: AppealEvent | None) -> Appeal | TicketView:
    """The ticket as `event` left it (a notice job may run after later changes), or as it is now."""
    if event is None or event.to_status is None:
        return appeal
    rejected = event.to_status == AppealStatus.REJECTED
    return TicketView(
        appeal.id,
        appeal.ticket_no,
        appeal.category,
        event.to_status,
        appeal.next_route if rejected else None,
        appeal.due_date,
        event.at,
    )


AUTO_CLOSE_NOTE = (
    "7天没有回复，申请已自动关闭。如仍有问题请重新提交。"  # the event, and what followers are told
)


def close_stale(db: Session, now: datetime | None = None) -> list[AppealEvent]:
    """Close tickets left 7 days without a reply after they were resolved, rejected or asked for
    more; the closing events (flushed, so they have ids for the notices)."""
    now = now or utcnow()
    stale = db.scalars(
        select(Appeal)
        .where(
            Appeal.status.in_(
                [AppealStatus.RESOLVED, AppealStatus.REJECTED, AppealStatus.NEED_MORE_INFO]
            ),
            Appeal.status_changed_at < now - CLOSE_AFTER,
        )
        # a ticket a clerk or its filer is changing right now waits for the next run
        .with_for_update(skip_locked=True)
    ).all()
    events = [
        record_move(db, appeal, AppealStatus.CLOSED, now, note=AUTO_CLOSE_NOTE) for appeal in stale
    ]
    db.flush()
    return events


def is_overdue(appeal: Appeal, now: datetime | None = None) -> bool:
    """Open and past its due date."""
    return appeal.status in OPEN_STATUSES and appeal.due_date < today_in_china(now or utcnow())


def status_message(appeal: Appeal, note: str | None, college: College | None = None) -> str:
    """What the filer is told when their ticket changes (fits one phone screen); a rejection's next
    route names the college's office as its settings do."""
    college = college or College()
    name = STATUS_NAMES[appeal.status]
    category = BY_KEY.get(getattr(appeal, "category", ""), CATEGORIES[-1])
    lines = [f"你的{category.noun} {appeal.ticket_no} 状态更新：{name}。"]
    if appeal.status == AppealStatus.NEED_MORE_INFO:
        lines.append(f"需要补充：{note}" if note else "需要补充材料。")
        lines.append("请直接回复文字或发照片，会自动补充到这个申请。")
    elif appeal.status == AppealStatus.RESOLVED:
        lines.append(f"处理结果：{note}" if note else "")
        lines.append(category.resolved_hint.format(visit=college.visit))
    elif appeal.status == AppealStatus.REJECTED:
        lines.append(f"原因：{note}" if note else "")
        lines.append(f"下一步：{next_route_text(appeal.next_route or 'window', college)}。")
    elif appeal.status == AppealStatus.UNDER_REVIEW:
        lines.append(f"说明：{note}" if note else "")  # staff write it to be sent
        lines.append(f"预计 {appeal.due_date:%Y-%m-%d} 前处理完。")
    elif note:
        lines.append(note)
    lines.append("回复4查看我的异议申请。")
    return "\n".join(line for line in lines if line)


def next_route_text(route: str, college: College | None = None) -> str | None:
    """A rejection's next route as the filer is told it (the office as the settings name it)."""
    college = college or College()
    text = NEXT_ROUTES.get(route)
    return text and text.format(visit=college.visit, phone_note=college.phone_note)


def shown_time(moment: datetime) -> str:
    """A stored time as the console and chat show it (Asia/Shanghai)."""
    return f"{local(as_utc(moment)):%Y-%m-%d %H:%M}"
