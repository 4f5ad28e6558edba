"""The dashboard's figures of appeals, each one SQL aggregate: tickets filed and decided per week by
category, the overdue share, the time to a decision, and per reviewer. A ticket is "decided" by its
first change to resolved or rejected; it is overdue when decided after its due date, or still open
past it."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from bot.appeals.rules import CATEGORIES
from bot.dashboard.counting import (
    Figure,
    day_of,
    local_day,
    percentile,
    rounded,
    week_of,
    weeks,
    within,
)
from bot.dashboard.rules import Period
from bot.platform.workdays import today_in_china
from models import (
    OPEN_STATUSES,
    Appeal,
    AppealEvent,
    AppealEventKind,
    AppealStatus,
    StaffUser,
    as_utc,
)

DECIDED = (AppealStatus.RESOLVED, AppealStatus.REJECTED)


def appeals_opened(db: Session, period: Period) -> Figure:
    """Tickets filed per week, by category."""
    day = local_day(Appeal.created_at)
    query = (
        select(day, Appeal.category, func.count())
        .where(within(Appeal.created_at, period))
        .group_by(day, Appeal.category)
    )
    return _by_week_and_category(
        "appeals_opened", "每周新提交的异议（按类别）", db.execute(query), period
    )


def appeals_decided(db: Session, period: Period) -> Figure:
    """Tickets decided (resolved or rejected) per week, by category."""
    day = local_day(AppealEvent.at)
    query = (
        select(day, Appeal.category, func.count())
        .join(Appeal, Appeal.id == AppealEvent.appeal_id)
        .where(
            AppealEvent.kind == AppealEventKind.STATUS,
            AppealEvent.to_status.in_(DECIDED),
            within(AppealEvent.at, period),
        )
        .group_by(day, Appeal.category)
    )
    return _by_week_and_category(
        "appeals_decided", "每周办结的异议（已解决或未通过，按类别）", db.execute(query), period
    )


def _by_week_and_category(key: str, title: str, found, period: Period) -> Figure:
    counts: dict[date, Counter] = defaultdict(Counter)
    for day, category, count in found:
        counts[week_of(day_of(day))][category] += count
    rows = [
        (week.isoformat(), *(counts[week][c.key] for c in CATEGORIES)) for week in weeks(period)
    ]
    total = sum(sum(row[1:]) for row in rows)
    return Figure(
        key,
        title,
        ("周（周一）", *(c.label for c in CATEGORIES)),
        rows,
        "stacked",
        f"合计 {total} 件",
    )


def _first_decisions():
    """appeal id -> the time of its first resolution or rejection."""
    return (
        select(AppealEvent.appeal_id, func.min(AppealEvent.at).label("decided_at"))
        .where(AppealEvent.kind == AppealEventKind.STATUS, AppealEvent.to_status.in_(DECIDED))
        .group_by(AppealEvent.appeal_id)
        .subquery()
    )


def overdue_share(db: Session, period: Period, now: datetime) -> Figure:
    """Of the tickets due in each week: how many were (or are) past due."""
    decided = _first_decisions()
    today = today_in_china(now)
    late = case(
        (
            and_(decided.c.decided_at.is_(None), Appeal.status.in_(OPEN_STATUSES)),
            Appeal.due_date < today,
        ),
        else_=local_day(decided.c.decided_at) > Appeal.due_date,
    )
    query = (
        select(Appeal.due_date, func.count(), func.sum(case((late, 1), else_=0)))
        .outerjoin(decided, decided.c.appeal_id == Appeal.id)
        .where(Appeal.due_date >= period.start, Appeal.due_date <= period.end)
        .group_by(Appeal.due_date)
    )
    due: Counter = Counter()
    overdue: Counter = Counter()
    for day, count, late_count in db.execute(query):
        due[week_of(day_of(day))] += count
        overdue[week_of(day_of(day))] += late_count or 0
    rows = [
        (w.isoformat(), due[w], overdue[w], round(100 * overdue[w] / due[w], 1) if due[w] else "")
        for w in weeks(period)
    ]
    all_due, all_late = sum(due.values()), sum(overdue.values())
    share = f"{100 * all_late / all_due:.1f}%" if all_due else "—"
    return Figure(
        "overdue",
        "逾期比例（按到期周）",
        ("周（周一）", "到期工单", "逾期", "逾期比例(%)"),
        rows,
        "bars",
        f"到期 {all_due} 件，逾期 {all_late} 件，逾期比例 {share}",
    )


def time_to_decide(db: Session, period: Period) -> Figure:
    """Hours from filing to the first decision: median and 90th percentile per week of decision."""
    decided = _first_decisions()
    query = (
        select(Appeal.created_at, decided.c.decided_at)
        .join(decided, decided.c.appeal_id == Appeal.id)
        .where(within(decided.c.decided_at, period))
    )
    spans: dict[date, list[float]] = defaultdict(list)
    everything: list[float] = []
    for filed, at in db.execute(query):
        hours = (as_utc(at) - as_utc(filed)).total_seconds() / 3600
        spans[week_of(_local(at))].append(hours)
        everything.append(hours)
    rows = [
        (
            w.isoformat(),
            len(spans[w]),
            rounded(percentile(spans[w], 0.5)),
            rounded(percentile(spans[w], 0.9)),
        )
        for w in weeks(period)
    ]
    median, p90 = percentile(everything, 0.5), percentile(everything, 0.9)
    summary = (
        f"办结 {len(everything)} 件，中位数 {median:.1f} 小时，90% 在 {p90:.1f} 小时内"
        if everything
        else "期间没有办结的工单"
    )
    return Figure(
        "time_to_decide",
        "从提交到办结的时间（小时）",
        ("周（周一）", "办结", "中位数(小时)", "90分位(小时)"),
        rows,
        "lines",
        summary,
    )


def _local(moment: datetime) -> date:
    return today_in_china(as_utc(moment))


def reviewers(db: Session, period: Period) -> Figure:
    """Per reviewer: tickets handled (a status change or note in the period), hours from filing to
    the ticket's first staff action when it was theirs (median), and decisions of theirs that were
    later reopened."""
    staff_events = (
        select(
            AppealEvent.appeal_id,
            AppealEvent.actor_staff_id,
            AppealEvent.at,
            AppealEvent.from_status,
            AppealEvent.to_status,
            func.row_number()
            .over(partition_by=AppealEvent.appeal_id, order_by=(AppealEvent.at, AppealEvent.id))
            .label("nth"),
            func.lead(AppealEvent.to_status)
            .over(partition_by=AppealEvent.appeal_id, order_by=(AppealEvent.at, AppealEvent.id))
            .label("next_status"),
        )
        .where(
            AppealEvent.actor_staff_id.is_not(None),
            AppealEvent.kind.in_((AppealEventKind.STATUS, AppealEventKind.NOTE)),
        )
        .subquery()
    )
    e = staff_events
    query = (
        select(StaffUser.username, StaffUser.display_name, e.c.appeal_id, e.c.at, e.c.nth)
        .add_columns(
            Appeal.created_at,
            and_(e.c.to_status.in_(DECIDED), e.c.next_status == AppealStatus.UNDER_REVIEW),
        )
        .join(StaffUser, StaffUser.id == e.c.actor_staff_id)
        .join(Appeal, Appeal.id == e.c.appeal_id)
        .where(within(e.c.at, period))
    )
    handled: dict[tuple, set] = defaultdict(set)
    first: dict[tuple, list[float]] = defaultdict(list)
    reopened: Counter = Counter()
    for username, name, appeal_id, at, nth, filed, was_reopened in db.execute(query):
        who = (username, name)
        handled[who].add(appeal_id)
        if nth == 1:
            first[who].append((as_utc(at) - as_utc(filed)).total_seconds() / 3600)
        reopened[who] += 1 if was_reopened else 0
    rows = [
        (
            f"{name}（{username}）",
            len(handled[(username, name)]),
            rounded(percentile(first[(username, name)], 0.5)),
            reopened[(username, name)],
        )
        for username, name in sorted(handled, key=lambda w: (-len(handled[w]), w[0]))
    ]
    return Figure(
        "reviewers",
        "每位审核人员：经手工单、首次处理用时、办结后被重新打开",
        ("审核人员", "经手工单", "首次处理用时中位数(小时)", "被重新打开"),
        rows,
        "hbars",
        f"{len(rows)} 位审核人员",
    )
