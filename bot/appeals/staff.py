"""What the staff console shows and does with tickets: the filtered queue (urgent first, then by
due date), one ticket with its timeline and the person behind it (masked unless revealed), staff
actions (status changes with a note, internal notes) and the director's CSV export.

Nothing here imports Flask: the console views call these functions with a SQL session.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.appeals.rules import (
    BY_KEY,
    STATUS_NAMES,
    TRANSITIONS,
    TransitionNotAllowed,
    change_status,
    is_overdue,
    shown_time,
)
from bot.platform.crypto import PiiCipher
from bot.platform.idcard import mask, mask_name, mask_phone
from bot.platform.workdays import today_in_china
from bot.understand import free_text
from models import (
    OPEN_STATUSES,
    Appeal,
    AppealEvent,
    AppealEventKind,
    AppealStatus,
    Diploma,
    DiplomaStatus,
    StaffUser,
    Student,
    as_utc,
    utcnow,
)

PAGE_SIZE = 50
NOTE_LIMIT = 500
EXPORT_LIMIT = 50_000
ROUTE_NAMES = {"chsi": "学信网 学历认证", "window": "线下窗口办理"}
CAMPUS_NAMES = {"main": "主校区"}
EVENT_NAMES = {
    "submitted": "提交申请",
    "status": "状态变更",
    "info": "申请人补充信息",
    "note": "内部备注",
}


class ActionRefused(ValueError):
    """A staff action that was not done; the message (Chinese) says why."""


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters as the console's query string carries them."""

    status: str = "open"  # "open", "all" or one AppealStatus value
    category: str = ""
    overdue: bool = False
    campus: str = ""

    @classmethod
    def from_args(cls, args) -> QueueFilters:
        """From a mapping of query arguments; unknown values fall back to the defaults."""
        status = args.get("status") or "open"
        if status not in ("open", "all") and status not in STATUS_NAMES:
            status = "open"
        category = args.get("category") or ""
        return cls(
            status=status,
            category=category if category in BY_KEY else "",
            overdue=args.get("overdue") == "yes",
            campus=(args.get("campus") or "").strip()[:32],
        )

    def as_args(self) -> dict:
        """The non-default filters, for links and hidden fields."""
        out = {"status": self.status} if self.status != "open" else {}
        out.update({k: v for k, v in (("category", self.category), ("campus", self.campus)) if v})
        if self.overdue:
            out["overdue"] = "yes"
        return out


def _filtered(filters: QueueFilters, today: date) -> Select:
    query = select(Appeal)
    if filters.status == "open":
        query = query.where(Appeal.status.in_(OPEN_STATUSES))
    elif filters.status != "all":
        query = query.where(Appeal.status == filters.status)
    if filters.category:
        query = query.where(Appeal.category == filters.category)
    if filters.campus:
        query = query.where(Appeal.campus == filters.campus)
    if filters.overdue:
        query = query.where(Appeal.status.in_(OPEN_STATUSES), Appeal.due_date < today)
    return query


def _sorted(query: Select) -> Select:
    """Urgent first (earliest deadline first), then by due date, then oldest first."""
    return query.order_by(
        Appeal.urgent.desc(),
        Appeal.urgent_deadline.asc().nulls_last(),
        Appeal.due_date.asc(),
        Appeal.id.asc(),
    )


@dataclass
class QueueRow:
    """One line of the queue, with its labels worked out."""

    appeal: Appeal
    category: str
    status: str
    overdue: bool
    age: str
    campus: str


@dataclass
class QueuePage:
    """One page of the queue, and the campuses the filter offers."""

    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    campuses: list[str] = field(default_factory=list)


def age_text(created: datetime, now: datetime) -> str:
    """How long ago a ticket was filed: `3天`, `5小时`, `12分钟`."""
    seconds = max(0, int((now - as_utc(created)).total_seconds()))
    if seconds >= 86400:
        return f"{seconds // 86400}天"
    if seconds >= 3600:
        return f"{seconds // 3600}小时"
    return f"{seconds // 60}分钟" if seconds >= 60 else "刚刚"


def campus_name(campus: str | None) -> str:
    """A campus code as the console shows it."""
    return CAMPUS_NAMES.get(campus or "", campus or "—")


def queue_page(
    db: Session, filters: QueueFilters, page: int = 1, now: datetime | None = None
) -> QueuePage:
    """One page (50 rows) of the filtered, sorted queue."""
    now = now or utcnow()
    query = _filtered(filters, today_in_china(now))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    appeals = db.scalars(_sorted(query).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    rows = [
        QueueRow(
            a,
            BY_KEY[a.category].label if a.category in BY_KEY else a.category,
            STATUS_NAMES.get(a.status, a.status),
            is_overdue(a, now),
            age_text(a.created_at, now),
            campus_name(a.campus),
        )
        for a in appeals
    ]
    campuses = db.scalars(
        select(Appeal.campus).where(Appeal.campus.is_not(None)).distinct().order_by(Appeal.campus)
    ).all()
    return QueuePage(rows, total, page, pages, list(campuses))


@dataclass
class Person:
    """The person behind a ticket, masked unless revealed."""

    source: str  # "student" (matched record) or "claimed"
    name: str = "—"
    id_number: str = "—"
    student_no: str = "—"
    phone: str = "—"
    contact_phone: str = "—"
    diploma: dict = field(default_factory=dict)


def person_of(db: Session, cipher: PiiCipher, appeal: Appeal, reveal: bool) -> Person:
    """The student record (or the claimed identity); personal data masked unless `reveal`."""

    def shown(value: str | None, masker) -> str:
        return "—" if not value else (value if reveal else masker(value))

    contact = cipher.open_or_none(appeal.contact_phone_enc, appeal.pii_key_version, b"phone")
    student = db.get(Student, appeal.student_id) if appeal.student_id else None
    if student is None:
        claimed_id = cipher.open_or_none(appeal.claimed_id_enc, appeal.pii_key_version, b"id")
        return Person(
            "claimed",
            name=shown(appeal.claimed_name, mask_name),
            id_number=shown(claimed_id, mask),
            student_no=appeal.claimed_student_no or "—",
            contact_phone=shown(contact, mask_phone),
        )
    diploma = db.scalar(select(Diploma).where(Diploma.student_id == student.id))
    facts = {}
    if diploma is not None:
        facts = {
            "证书编号": diploma.certificate_no or "未注册",
            "层次": diploma.level,
            "专业": diploma.major,
            "学习形式": diploma.study_mode,
            "校区": campus_name(diploma.campus),
            "入学日期": diploma.enrol_date or "—",
            "毕业日期": diploma.grad_date or "—",
            "状态": "有效" if diploma.status is DiplomaStatus.VALID else "已撤销",
        }
    return Person(
        "student",
        name=shown(student.name, mask_name),
        id_number=shown(
            cipher.open_or_none(student.id_number_enc, student.pii_key_version, b"id"), mask
        ),
        student_no=student.student_no,
        phone=shown(
            cipher.open_or_none(student.phone_enc, student.pii_key_version, b"phone"), mask_phone
        ),
        contact_phone=shown(contact, mask_phone),
        diploma=facts,
    )


@dataclass
class TimelineEntry:
    """One event of a ticket as the console shows it."""

    at: str
    who: str
    what: str
    note: str | None
    internal: bool


def timeline(db: Session, appeal: Appeal) -> list[TimelineEntry]:
    """The ticket's events, oldest first, with who did them."""
    names = dict(db.execute(select(StaffUser.id, StaffUser.display_name)).all())
    out = []
    for event in appeal.events:
        if event.actor_staff_id:
            who = names.get(event.actor_staff_id, "工作人员")
        else:
            who = "申请人" if event.actor_account_id else "系统"
        what = EVENT_NAMES.get(event.kind, event.kind)
        if event.kind is AppealEventKind.STATUS:
            what = f"{STATUS_NAMES.get(event.from_status or '', '—')} → {STATUS_NAMES.get(event.to_status or '', '—')}"
        out.append(
            TimelineEntry(
                shown_time(event.at), who, what, event.note, event.kind is AppealEventKind.NOTE
            )
        )
    return out


def allowed_moves(appeal: Appeal) -> list[tuple[str, str]]:
    """(status, Chinese name) a staff action may move this ticket to, in lifecycle order."""
    moves = TRANSITIONS[AppealStatus(appeal.status)]
    return [(s.value, STATUS_NAMES[s.value]) for s in AppealStatus if s in moves]


def _checked_note(note: str) -> str:
    note = free_text(note)
    if not note:
        raise ActionRefused("请填写说明。")
    if len(note) > NOTE_LIMIT:
        raise ActionRefused(f"说明不能超过 {NOTE_LIMIT} 个字。")
    return note


def move(
    db: Session,
    appeal: Appeal,
    to: str,
    note: str,
    staff: StaffUser,
    expected: str | None = None,
    next_route: str | None = None,
) -> AppealEvent:
    """A staff status change with its note (sent to the filer); raises ActionRefused."""
    note = _checked_note(note)
    if expected and expected != appeal.status:
        raise ActionRefused("该申请刚被其他人更新过，请查看最新状态后再操作。")
    try:
        target = AppealStatus(to)
    except ValueError:
        raise ActionRefused("请选择新的状态。") from None
    try:
        return change_status(
            db,
            appeal,
            target,
            note,
            staff_id=staff.id,
            next_route=next_route if target is AppealStatus.REJECTED else None,
        )
    except TransitionNotAllowed as refused:  # the lifecycle decides; the console words it for staff
        if refused.needs_route:
            raise ActionRefused(
                "未通过时必须选择下一步办理途径（学信网学历认证或线下窗口）。"
            ) from None
        raise ActionRefused(
            f"当前状态“{STATUS_NAMES[appeal.status]}”不能改为“{STATUS_NAMES[to]}”。"
        ) from None


def add_note(db: Session, appeal: Appeal, note: str, staff: StaffUser) -> AppealEvent:
    """An internal note: kept on the timeline, never sent to the filer."""
    event = AppealEvent(
        appeal_id=appeal.id,
        kind=AppealEventKind.NOTE,
        actor_staff_id=staff.id,
        note=_checked_note(note),
    )
    db.add(event)
    return event


CSV_HEADER = [
    "申请编号",
    "类别",
    "状态",
    "加急",
    "加急截止日期",
    "处理期限",
    "校区",
    "提交时间",
    "更新时间",
]


def _cell(value: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(db: Session, filters: QueueFilters, now: datetime | None = None) -> tuple[str, int]:
    """(UTF-8-with-BOM CSV text, row count) of the filtered tickets: no ID numbers, no phones."""
    query = _sorted(_filtered(filters, today_in_china(now or utcnow()))).limit(EXPORT_LIMIT)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for a in db.scalars(query):
        category = BY_KEY[a.category].label if a.category in BY_KEY else a.category
        writer.writerow(
            [
                _cell(str(v))
                for v in (
                    a.ticket_no,
                    category,
                    STATUS_NAMES.get(a.status, a.status),
                    "是" if a.urgent else "否",
                    a.urgent_deadline or "",
                    a.due_date,
                    campus_name(a.campus),
                    shown_time(a.created_at),
                    shown_time(a.updated_at),
                )
            ]
        )
        count += 1
    return out.getvalue(), count
