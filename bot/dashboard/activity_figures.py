"""The dashboard's figures of the service's other traffic, each one SQL aggregate: binding
attempts and where they fail, SMS sent and failed, certificates issued and verified, lookups on
the verification page."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session

from bot.dashboard.counting import Figure, daily, day_of, local_day, within
from bot.dashboard.rules import Period
from models import (
    AuditEvent,
    Certificate,
    LookupOutcome,
    OtpEvent,
    OtpEventKind,
    VerificationLookup,
)

OUTCOME_NAMES = {
    LookupOutcome.VALID: "有效",
    LookupOutcome.EXPIRED: "已过期",
    LookupOutcome.REVOKED: "已撤销",
    LookupOutcome.CLOSED: "已关闭",
    LookupOutcome.TAMPERED: "签名不符",
    LookupOutcome.UNKNOWN: "查无此码",
}


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
            within(AuditEvent.at, period),
            (AuditEvent.action == "bind_match")
            | and_(AuditEvent.action == "bind", AuditEvent.result == "bound"),
        )
        .group_by(day, outcome)
    )
    counts: dict[date, Counter] = defaultdict(Counter)
    for found_day, name, count in db.execute(query):
        counts[day_of(found_day)][name] += count
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
        within(OtpEvent.at, period),
    )
    misses = select(literal("mismatch").label("reason"), AuditEvent.id.label("id")).where(
        AuditEvent.action == "bind_match",
        AuditEvent.result == "no_match",
        within(AuditEvent.at, period),
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
            within(OtpEvent.at, period),
        )
        .group_by(day, OtpEvent.kind)
    )
    rows, (sent, failed) = daily(
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
    ).where(within(Certificate.issued_at, period))
    verified = select(
        local_day(VerificationLookup.at).label("day"), literal("verified").label("what")
    ).where(
        VerificationLookup.outcome == LookupOutcome.VALID, within(VerificationLookup.at, period)
    )
    both = issued.union_all(verified).subquery()
    columns = list(both.c)
    query = select(columns[0], columns[1], func.count()).group_by(columns[0], columns[1])
    rows, (made, checked) = daily(("issued", "verified"), db.execute(query), period)
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
        .where(within(VerificationLookup.at, period))
        .group_by(day, VerificationLookup.outcome)
    )
    rows, totals = daily(tuple(LookupOutcome), db.execute(query), period)
    return Figure(
        "lookups",
        "验证页查询（每天，按结果）",
        ("日期", *OUTCOME_NAMES.values()),
        rows,
        "stacked",
        f"查询 {sum(totals)} 次，其中查无此码 {totals[-1]} 次",
    )
