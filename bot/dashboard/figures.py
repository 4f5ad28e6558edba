"""The dashboard's figures, each one SQL aggregate over the tables, on SQLite and PostgreSQL.

A figure is a table (a header and rows) that the console draws as a chart and offers as CSV. Days
are Asia/Shanghai days (`local_day`, computed in SQL); weeks start on Monday. Appeals count by the
day they were filed; a ticket is "decided" by its first change to resolved or rejected; it is
overdue when decided after its due date, or still open past it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, and_, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from bot.appeals.rules import CATEGORIES
from bot.dashboard.rules import Period
from bot.platform.workdays import today_in_china
from models import (
    OPEN_STATUSES,
    Appeal,
    AppealEvent,
    AppealEventKind,
    AppealStatus,
    AuditEvent,
    Certificate,
    LookupOutcome,
    OtpEvent,
    OtpEventKind,
    StaffUser,
    VerificationLookup,
    as_utc,
)

DECIDED = (AppealStatus.RESOLVED, AppealStatus.REJECTED)
OUTCOME_NAMES = {
    LookupOutcome.VALID: "有效",
    LookupOutcome.EXPIRED: "已过期",
    LookupOutcome.REVOKED: "已撤销",
    LookupOutcome.CLOSED: "已关闭",
    LookupOutcome.TAMPERED: "签名不符",
    LookupOutcome.UNKNOWN: "查无此码",
}


class local_day(FunctionElement):  # noqa: N801 (an SQL function)
    """The Asia/Shanghai date of a stored UTC time (on SQLite as 'YYYY-MM-DD' text, which compares
    with its stored dates as text does)."""

    type = Date()
    inherit_cache = True


@compiles(local_day, "sqlite")
def _local_day_sqlite(element, compiler, **kw) -> str:
    # SQLite keeps the UTC time as naive text; China has had no daylight saving since 1991
    return f"date({compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(local_day, "postgresql")
def _local_day_postgresql(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(({column} AT TIME ZONE 'Asia/Shanghai') AS DATE)"


@dataclass(frozen=True)
class Figure:
    """One figure: `rows` under `header`; `chart` says how the console draws it (bars, stacked,
    lines, hbars); `summary` is a line of headline numbers."""

    key: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple]
    chart: str
    summary: str = ""


def week_of(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


def weeks(period: Period) -> list[date]:
    """The Mondays of the weeks the period touches."""
    return sorted({week_of(day) for day in period.days()})


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _in(column, period: Period):
    return and_(column >= period.since, column < period.until)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (0 < share <= 1) of the values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def _hours(value: float | None) -> float | str:
    return "" if value is None else round(value, 1)


# -- appeals ----------------------------------------------------------------------------------
def appeals_opened(db: Session, period: Period) -> Figure:
    """Tickets filed per week, by category."""
    day = local_day(Appeal.created_at)
    query = (
        select(day, Appeal.category, func.count())
        .where(_in(Appeal.created_at, period))
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
            _in(AppealEvent.at, period),
        )
        .group_by(day, Appeal.category)
    )
    return _by_week_and_category(
        "appeals_decided", "每周办结的异议（已解决或未通过，按类别）", db.execute(query), period
    )


def _by_week_and_category(key: str, title: str, found, period: Period) -> Figure:
    counts: dict[date, Counter] = defaultdict(Counter)
    for day, category, count in found:
        counts[week_of(_day(day))][category] += count
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
        due[week_of(_day(day))] += count
        overdue[week_of(_day(day))] += late_count or 0
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
        .where(_in(decided.c.decided_at, period))
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
            _hours(percentile(spans[w], 0.5)),
            _hours(percentile(spans[w], 0.9)),
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


# -- binding, SMS, certificates -------------------------------------------------------------
def _daily(names: tuple[str, ...], found, period: Period) -> tuple[list[tuple], list[int]]:
    """Rows of (day, count of each name) for every day of the period, and the totals."""
    counts: dict[date, Counter] = defaultdict(Counter)
    for day, name, count in found:
        counts[_day(day)][name] += count
    rows = [(d.isoformat(), *(counts[d][n] for n in names)) for d in period.days()]
    totals = [sum(row[i + 1] for row in rows) for i in range(len(names))]
    return rows, totals


def binding_attempts(db: Session, period: Period) -> Figure:
    """Per day: identities checked (attempts), matched, and bindings made."""
    day = local_day(AuditEvent.at)
    outcome = case(
        (and_(AuditEvent.action == "bind", AuditEvent.result == "bound"), "bound"),
        (AuditEvent.result == "matched", "matched"),
        else_="missed",
    )
    query = (
        select(day, outcome, func.count())
        .where(
            _in(AuditEvent.at, period),
            (AuditEvent.action == "bind_match")
            | and_(AuditEvent.action == "bind", AuditEvent.result == "bound"),
        )
        .group_by(day, outcome)
    )
    counts: dict[date, Counter] = defaultdict(Counter)
    for found_day, name, count in db.execute(query):
        counts[_day(found_day)][name] += count
    rows = [
        (
            d.isoformat(),
            counts[d]["matched"] + counts[d]["missed"],
            counts[d]["matched"],
            counts[d]["bound"],
        )
        for d in period.days()
    ]
    attempts, bound = sum(r[1] for r in rows), sum(r[3] for r in rows)
    rate = f"{100 * bound / attempts:.1f}%" if attempts else "—"
    return Figure(
        "binding",
        "绑定：尝试、身份核对通过、绑定成功（每天）",
        ("日期", "尝试", "身份核对通过", "绑定成功"),
        rows,
        "lines",
        f"尝试 {attempts} 次，绑定成功 {bound} 次（{rate}）",
    )


BINDING_FAILURES = (
    ("mismatch", "身份信息不符"),
    ("wrong_code", "验证码错误"),
    ("locked", "验证码错误过多被锁"),
    ("sms_failed", "短信发送失败"),
)


def binding_failures(db: Session, period: Period) -> Figure:
    """Where binding fails: identity mismatches (audit) and the SMS second factor (code events)."""
    reason = case(
        (OtpEvent.kind == OtpEventKind.FAILED, "wrong_code"),
        (OtpEvent.kind == OtpEventKind.LOCKED, "locked"),
        else_="sms_failed",
    )
    codes = select(reason.label("reason"), OtpEvent.id.label("id")).where(
        OtpEvent.purpose == "bind",
        OtpEvent.kind.in_((OtpEventKind.FAILED, OtpEventKind.LOCKED, OtpEventKind.SEND_FAILED)),
        _in(OtpEvent.at, period),
    )
    misses = select(literal("mismatch").label("reason"), AuditEvent.id.label("id")).where(
        AuditEvent.action == "bind_match",
        AuditEvent.result == "no_match",
        _in(AuditEvent.at, period),
    )
    both = codes.union_all(misses).subquery()
    found = dict(db.execute(select(both.c.reason, func.count()).group_by(both.c.reason)).all())
    rows = [(label, found.get(key, 0)) for key, label in BINDING_FAILURES]
    return Figure(
        "binding_failures",
        "绑定失败在哪一步",
        ("原因", "次数"),
        rows,
        "hbars",
        f"合计 {sum(r[1] for r in rows)} 次",
    )


def sms_per_day(db: Session, period: Period) -> Figure:
    """Verification-code SMS sent and failed per day (every purpose)."""
    day = local_day(OtpEvent.at)
    query = (
        select(day, OtpEvent.kind, func.count())
        .where(
            OtpEvent.kind.in_((OtpEventKind.SENT, OtpEventKind.SEND_FAILED)),
            _in(OtpEvent.at, period),
        )
        .group_by(day, OtpEvent.kind)
    )
    rows, (sent, failed) = _daily(
        (OtpEventKind.SENT, OtpEventKind.SEND_FAILED), db.execute(query), period
    )
    return Figure(
        "sms",
        "短信：发送成功与失败（每天）",
        ("日期", "发送成功", "发送失败"),
        rows,
        "lines",
        f"成功 {sent} 条，失败 {failed} 条",
    )


def certificates_per_day(db: Session, period: Period) -> Figure:
    """E-certificates issued per day, and lookups that confirmed a valid one."""
    issued = select(
        local_day(Certificate.issued_at).label("day"), literal("issued").label("what")
    ).where(_in(Certificate.issued_at, period))
    verified = select(
        local_day(VerificationLookup.at).label("day"), literal("verified").label("what")
    ).where(VerificationLookup.outcome == LookupOutcome.VALID, _in(VerificationLookup.at, period))
    both = issued.union_all(verified).subquery()
    columns = list(both.c)
    query = select(columns[0], columns[1], func.count()).group_by(columns[0], columns[1])
    rows, (made, checked) = _daily(("issued", "verified"), db.execute(query), period)
    return Figure(
        "certificates",
        "电子证书：签发与被查验为有效（每天）",
        ("日期", "签发", "查验有效"),
        rows,
        "lines",
        f"签发 {made} 份，查验有效 {checked} 次",
    )


def verification_lookups(db: Session, period: Period) -> Figure:
    """Lookups on the public verification page per day, by what they found."""
    day = local_day(VerificationLookup.at)
    query = (
        select(day, VerificationLookup.outcome, func.count())
        .where(_in(VerificationLookup.at, period))
        .group_by(day, VerificationLookup.outcome)
    )
    rows, totals = _daily(tuple(LookupOutcome), db.execute(query), period)
    return Figure(
        "lookups",
        "验证页查询（每天，按结果）",
        ("日期", *OUTCOME_NAMES.values()),
        rows,
        "stacked",
        f"查询 {sum(totals)} 次，其中查无此码 {totals[-1]} 次",
    )


# -- reviewers ------------------------------------------------------------------------------
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
        .where(_in(e.c.at, period))
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
            _hours(percentile(first[(username, name)], 0.5)),
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


SERVICE: dict[str, Callable] = {
    "appeals_opened": appeals_opened,
    "appeals_decided": appeals_decided,
    "overdue": overdue_share,
    "time_to_decide": time_to_decide,
    "binding": binding_attempts,
    "binding_failures": binding_failures,
    "sms": sms_per_day,
    "certificates": certificates_per_day,
    "lookups": verification_lookups,
}


def figure(db: Session, key: str, period: Period, now: datetime) -> Figure:
    """One figure by key (KeyError for an unknown key)."""
    if key == "reviewers":
        return reviewers(db, period)
    compute = SERVICE[key]
    return compute(db, period, now) if compute is overdue_share else compute(db, period)


def service_figures(db: Session, period: Period, now: datetime) -> list[Figure]:
    """Every figure of the service, in the dashboard's order."""
    return [figure(db, key, period, now) for key in SERVICE]
