"""Every figure of the dashboard equals what a plain count over the table rows gives, for a
seeded month (the rows are read with the ORM and counted here in Python, day by day in
Asia/Shanghai)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.appeals.rules import CATEGORIES
from bot.dashboard import figures
from bot.dashboard.rules import PeriodError, period_from, sees_dashboard, sees_reviewers
from bot.platform.workdays import today_in_china
from models import (
    OPEN_STATUSES,
    Appeal,
    AppealEvent,
    AuditEvent,
    Certificate,
    OtpEvent,
    StaffUser,
    VerificationLookup,
    as_utc,
)
from tests.dashboard_seed import seed_month
from tests.handlers.console.test_appeals import make_staff

NOW = datetime.now(UTC)


@pytest.fixture
def seeded(app):
    make_staff(app, "clerk1", name="王办事")
    make_staff(app, "clerk2", name="赵办事")
    seed_month(app, NOW)
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        yield db, period_from(None, None, NOW)


def day(moment) -> date:
    return today_in_china(as_utc(moment))


def inside(moment, period) -> bool:
    return period.start <= day(moment) <= period.end


def column(figure, name):
    index = figure.header.index(name)
    return [row[index] for row in figure.rows]


def test_appeals_opened_per_week_by_category(seeded):
    db, period = seeded
    fig = figures.appeals_opened(db, period)
    expected = Counter(
        (figures.week_of(day(a.created_at)).isoformat(), a.category)
        for a in db.scalars(select(Appeal))
        if inside(a.created_at, period)
    )
    got = Counter()
    for row in fig.rows:
        for category, count in zip(CATEGORIES, row[1:], strict=True):
            if count:
                got[(row[0], category.key)] = count
    assert got == expected and sum(expected.values()) > 40


def test_appeals_decided_per_week_by_category(seeded):
    db, period = seeded
    fig = figures.appeals_decided(db, period)
    expected = Counter(
        (figures.week_of(day(e.at)).isoformat(), e.appeal.category)
        for e in db.scalars(select(AppealEvent))
        if e.kind == "status" and e.to_status in ("resolved", "rejected") and inside(e.at, period)
    )
    got = Counter()
    for row in fig.rows:
        for category, count in zip(CATEGORIES, row[1:], strict=True):
            if count:
                got[(row[0], category.key)] = count
    assert got == expected and sum(expected.values()) > 10


def _decided(db) -> dict[int, datetime]:
    first = {}
    for e in db.scalars(select(AppealEvent).order_by(AppealEvent.at)):
        if e.kind == "status" and e.to_status in ("resolved", "rejected"):
            first.setdefault(e.appeal_id, as_utc(e.at))
    return first


def test_overdue_share(seeded):
    db, period = seeded
    decided, today = _decided(db), today_in_china(NOW)
    due, late = Counter(), Counter()
    for a in db.scalars(select(Appeal)):
        if not period.start <= a.due_date <= period.end:
            continue
        week = figures.week_of(a.due_date).isoformat()
        due[week] += 1
        if a.id in decided:
            late[week] += day(decided[a.id]) > a.due_date
        else:
            late[week] += a.status in OPEN_STATUSES and a.due_date < today
    fig = figures.overdue_share(db, period, NOW)
    assert dict(zip(column(fig, "周（周一）"), column(fig, "到期工单"), strict=True)) == {
        w: due[w] for w in column(fig, "周（周一）")
    }
    assert {r[0]: r[2] for r in fig.rows} == {r[0]: late[r[0]] for r in fig.rows}
    assert sum(due.values()) > 10 and 0 < sum(late.values()) < sum(due.values())
    share = f"{100 * sum(late.values()) / sum(due.values()):.1f}%"
    assert share in fig.summary


def test_time_to_decide_median_and_90th_percentile(seeded):
    db, period = seeded
    decided = _decided(db)
    hours = sorted(
        (decided[a.id] - as_utc(a.created_at)).total_seconds() / 3600
        for a in db.scalars(select(Appeal))
        if a.id in decided and inside(decided[a.id], period)
    )
    fig = figures.time_to_decide(db, period)
    assert sum(column(fig, "办结")) == len(hours) > 10
    median = hours[(len(hours) + 1) // 2 - 1]
    p90 = hours[-(-len(hours) * 9 // 10) - 1]
    assert f"中位数 {median:.1f} 小时" in fig.summary and f"90% 在 {p90:.1f} 小时内" in fig.summary


def test_binding_attempts_and_where_they_fail(seeded):
    db, period = seeded
    audits = [a for a in db.scalars(select(AuditEvent)) if inside(a.at, period)]
    codes = [o for o in db.scalars(select(OtpEvent)) if inside(o.at, period)]
    fig = figures.binding_attempts(db, period)
    attempts = [a for a in audits if a.action == "bind_match"]
    assert sum(column(fig, "尝试")) == len(attempts) > 100
    assert sum(column(fig, "身份核对通过")) == sum(a.result == "matched" for a in attempts)
    bound = [a for a in audits if a.action == "bind" and a.result == "bound"]
    assert sum(column(fig, "绑定成功")) == len(bound) > 50
    by_day = Counter(day(a.at).isoformat() for a in attempts)
    assert {r[0]: r[1] for r in fig.rows} == {r[0]: by_day[r[0]] for r in fig.rows}

    failures = dict(figures.binding_failures(db, period).rows)
    bind_codes = Counter(o.kind for o in codes if o.purpose == "bind")
    assert failures == {
        "身份信息不符": sum(a.result == "no_match" for a in attempts),
        "验证码错误": bind_codes["failed"],
        "验证码错误过多被锁": bind_codes["locked"],
        "短信发送失败": bind_codes["send_failed"],
    }
    assert all(failures.values())


def test_sms_sent_and_failed_per_day(seeded):
    db, period = seeded
    codes = [o for o in db.scalars(select(OtpEvent)) if inside(o.at, period)]
    fig = figures.sms_per_day(db, period)
    for name, kind in (("发送成功", "sent"), ("发送失败", "send_failed")):
        by_day = Counter(day(o.at).isoformat() for o in codes if o.kind == kind)
        assert dict(zip(column(fig, "日期"), column(fig, name), strict=True)) == {
            d: by_day[d] for d in column(fig, "日期")
        }
        assert sum(by_day.values()) > 5


def test_certificates_issued_and_verified(seeded):
    db, period = seeded
    fig = figures.certificates_per_day(db, period)
    issued = Counter(
        day(c.issued_at).isoformat()
        for c in db.scalars(select(Certificate))
        if inside(c.issued_at, period)
    )
    valid = Counter(
        day(v.at).isoformat()
        for v in db.scalars(select(VerificationLookup))
        if v.outcome == "valid" and inside(v.at, period)
    )
    assert {r[0]: r[1] for r in fig.rows} == {r[0]: issued[r[0]] for r in fig.rows}
    assert {r[0]: r[2] for r in fig.rows} == {r[0]: valid[r[0]] for r in fig.rows}
    assert sum(issued.values()) > 20 and sum(valid.values()) > 20


def test_verification_lookups_by_outcome(seeded):
    db, period = seeded
    fig = figures.verification_lookups(db, period)
    found = Counter(
        (day(v.at).isoformat(), v.outcome)
        for v in db.scalars(select(VerificationLookup))
        if inside(v.at, period)
    )
    got = Counter()
    for row in fig.rows:
        for outcome, count in zip(figures.OUTCOME_NAMES, row[1:], strict=True):
            if count:
                got[(row[0], outcome)] = count
    assert got == found and sum(found.values()) > 100


def test_reviewers(seeded):
    db, period = seeded
    events = db.scalars(select(AppealEvent).order_by(AppealEvent.at, AppealEvent.id)).all()
    staff = {u.id: u for u in db.scalars(select(StaffUser))}
    handled, reopened, firsts = {}, Counter(), {}
    by_ticket = {}
    for e in events:
        if e.actor_staff_id is None or e.kind not in ("status", "note"):
            continue
        by_ticket.setdefault(e.appeal_id, []).append(e)
    for ticket in by_ticket.values():
        for n, e in enumerate(ticket):
            if not inside(e.at, period):
                continue
            who = staff[e.actor_staff_id].username
            handled.setdefault(who, set()).add(e.appeal_id)
            if n == 0:
                firsts.setdefault(who, []).append(
                    (as_utc(e.at) - as_utc(e.appeal.created_at)).total_seconds() / 3600
                )
            later = ticket[n + 1] if n + 1 < len(ticket) else None
            if (
                e.to_status in ("resolved", "rejected")
                and later
                and later.to_status == "under_review"
            ):
                reopened[who] += 1
    fig = figures.reviewers(db, period)
    rows = {r[0]: r[1:] for r in fig.rows}
    assert len(rows) == 2 and sum(reopened.values()) > 0
    for who, tickets in handled.items():
        name = staff_name = next(u.display_name for u in staff.values() if u.username == who)
        assert staff_name
        got = rows[f"{name}（{who}）"]
        assert got[0] == len(tickets)
        assert got[1] == round(figures.percentile(firsts[who], 0.5), 1)
        assert got[2] == reopened[who]


def test_an_empty_period_draws_zeros(seeded):
    db, _ = seeded
    period = period_from("2020-01-01", "2020-01-10", NOW)
    for fig in figures.service_figures(db, period, NOW) + [figures.reviewers(db, period)]:
        assert all(not any(isinstance(v, int) and v for v in row[1:]) for row in fig.rows)


def test_periods_and_who_sees_what():
    assert (period_from(None, None, NOW).end - period_from(None, None, NOW).start) == timedelta(
        days=29
    )
    for start, end in (
        ("2026-13-01", None),
        ("2026-02-01", "2026-01-01"),
        ("2024-01-01", "2026-01-01"),
    ):
        with pytest.raises(PeriodError):
            period_from(start, end, NOW)
    roles = {r: StaffUser(role=r, active=True) for r in ("clerk", "director", "auditor")}
    assert [r for r, u in roles.items() if sees_dashboard(u)] == ["director", "auditor"]
    assert [r for r, u in roles.items() if sees_reviewers(u)] == ["director"]
    assert not sees_dashboard(StaffUser(role="director", active=False))


def test_csv_cells_are_never_formulas():
    fig = figures.Figure(
        "reviewers", "t", ("审核人员", "经手工单"), [("=HYPERLINK(1)", 3)], "hbars"
    )
    text = figures.as_csv(fig)
    assert text.startswith("\ufeff审核人员,经手工单") and "'=HYPERLINK(1),3" in text
