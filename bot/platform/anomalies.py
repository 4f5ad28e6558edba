"""The weekly anomaly report the discipline office (纪检) reviews: unusual numbers of personal-data
reveals per staff member, sign-ins at odd hours or from new addresses, CSV exports, failed
sign-ins, and bursts of wrong codes or of several accounts claiming one student. Weeks run Monday
to Monday in Asia/Shanghai. Students are named by record number only: the report holds no
personal data, and neither does the SMS that tells auditors it is ready. Nothing here imports Flask.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import keys
from bot.platform.sms import SmsError
from bot.platform.staff_auth import staff_phone
from bot.platform.workdays import SHANGHAI, local
from models import (
    AuditEvent,
    OtpEvent,
    OtpEventKind,
    StaffRole,
    StaffSignIn,
    StaffUser,
)

REVEAL_FLOOR = 20  # a week's reveals below this are never unusual
REVEAL_FACTOR = 2  # ... nor below twice the member's own average of the 4 weeks before
BASELINE_WEEKS = 4
ODD_HOURS = (22, 7)  # local sign-ins from 22:00 to 06:59
ADDRESS_MEMORY = timedelta(days=90)
FAILED_LOGINS = 5  # failures of one username in a week that are flagged
CODE_BURST = 5  # wrong codes on one student within a day
CLAIMANTS = 3  # different accounts matching one student within the week
NOTICE_HOUR = 8  # Monday 08:00 local: the auditors are told last week's report is ready


@dataclass(frozen=True)
class Week:
    """Monday 00:00 to the next Monday 00:00, Asia/Shanghai; `start`/`end` in UTC."""

    monday: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.monday, time(), SHANGHAI).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def title(self) -> str:
        last = self.monday + timedelta(days=6)
        return f"{self.monday:%Y年%m月%d日}—{last:%m月%d日}"

    @classmethod
    def containing(cls, moment: datetime) -> Week:
        day = local(moment).date()
        return cls(day - timedelta(days=day.weekday()))

    @classmethod
    def last_complete(cls, now: datetime) -> Week:
        return cls(cls.containing(now).monday - timedelta(days=7))

    @classmethod
    def parse(cls, label: str) -> Week | None:
        match = re.fullmatch(r"([0-9]{4})-W([0-9]{2})", label or "")
        if not match:
            return None
        try:
            return cls(date.fromisocalendar(int(match[1]), int(match[2]), 1))
        except ValueError:
            return None


@dataclass
class Finding:
    """One line of the report: who (a username, a typed username or `#<student id>`), what, how
    many, and the facts behind it (times, addresses, rows); `flagged` when it passes a threshold."""

    who: str
    count: int
    facts: list[str] = field(default_factory=list)
    flagged: bool = True


@dataclass
class Report:
    """The findings of one week, by section (reveals, odd_hours, new_addresses, exports,
    failed_logins, student_bursts)."""

    week: Week
    sections: dict[str, list[Finding]]

    @property
    def flagged(self) -> int:
        """How many findings pass their threshold."""
        return sum(f.flagged for items in self.sections.values() for f in items)


def _audits(db: Session, start: datetime, end: datetime, actions, results=None):
    query = select(AuditEvent).where(
        AuditEvent.at >= start, AuditEvent.at < end, AuditEvent.action.in_(actions)
    )
    if results is not None:
        query = query.where(AuditEvent.result.in_(results))
    return db.scalars(query.order_by(AuditEvent.at)).all()


def _shown(moment: datetime) -> str:
    return f"{local(moment):%m-%d %H:%M}"


def reveals(db: Session, week: Week) -> list[Finding]:
    """Reveals per staff member, flagged above the floor and twice their own recent average."""
    counts = Counter(
        e.actor_staff for e in _audits(db, week.start, week.end, ["reveal_pii"]) if e.actor_staff
    )
    before = week.start - timedelta(weeks=BASELINE_WEEKS)
    earlier = Counter(
        e.actor_staff for e in _audits(db, before, week.start, ["reveal_pii"]) if e.actor_staff
    )
    out = []
    for who, count in counts.most_common():
        average = earlier[who] / BASELINE_WEEKS
        out.append(
            Finding(
                who,
                count,
                [f"前 {BASELINE_WEEKS} 周平均每周 {average:.1f} 次"],
                flagged=count >= max(REVEAL_FLOOR, REVEAL_FACTOR * average),
            )
        )
    return out


def _sign_ins(db: Session, start: datetime, end: datetime):
    rows = db.execute(
        select(StaffSignIn, StaffUser.username)
        .join(StaffUser, StaffUser.id == StaffSignIn.staff_id)
        .where(StaffSignIn.at >= start, StaffSignIn.at < end)
        .order_by(StaffSignIn.at)
    ).all()
    return rows


def odd_hours(db: Session, week: Week) -> list[Finding]:
    """Sign-ins between 22:00 and 07:00 local time, per staff member."""
    late, early = ODD_HOURS
    found: dict[str, list[str]] = defaultdict(list)
    for sign_in, username in _sign_ins(db, week.start, week.end):
        hour = local(sign_in.at).hour
        if hour >= late or hour < early:
            found[username].append(f"{_shown(sign_in.at)} 自 {sign_in.address}")
    return [Finding(who, len(facts), facts) for who, facts in found.items()]


def new_addresses(db: Session, week: Week) -> list[Finding]:
    """Sign-ins from an address the member had not used in the 90 days before (members with no
    earlier sign-in are listed unflagged: a first sign-in is new by nature)."""
    history: dict[str, set[str]] = defaultdict(set)
    for sign_in, username in _sign_ins(db, week.start - ADDRESS_MEMORY, week.start):
        history[username].add(sign_in.address)
    found: dict[str, list[str]] = defaultdict(list)
    seen: dict[str, set[str]] = defaultdict(set)
    for sign_in, username in _sign_ins(db, week.start, week.end):
        if sign_in.address in history[username] or sign_in.address in seen[username]:
            continue
        seen[username].add(sign_in.address)
        found[username].append(f"{_shown(sign_in.at)} 首次自 {sign_in.address}")
    return [
        Finding(who, len(facts), facts, flagged=bool(history[who])) for who, facts in found.items()
    ]


def exports(db: Session, week: Week) -> list[Finding]:
    """Every CSV export (each is listed; exports are rare and always worth a look)."""
    found: dict[str, list[str]] = defaultdict(list)
    for event in _audits(db, week.start, week.end, ["export_csv"], ["ok"]):
        rows = re.search(r"rows=([0-9]+)", event.detail or "")
        found[event.actor_staff or "—"].append(
            f"{_shown(event.at)} 导出 {rows[1] if rows else '?'} 行"
        )
    return [Finding(who, len(facts), facts) for who, facts in found.items()]


def failed_logins(db: Session, week: Week) -> list[Finding]:
    """Wrong passwords per typed username and wrong second-factor codes per member; flagged from
    5 in the week or when a limit locked the account."""
    counts: Counter[str] = Counter()
    locked: set[str] = set()
    for event in _audits(db, week.start, week.end, ["staff_login"], ["failed", "throttled"]):
        typed = (event.detail or "").removeprefix("username=") or "(空)"
        counts[typed] += 1
        if event.result == "throttled":
            locked.add(typed)
    for event in _audits(
        db, week.start, week.end, ["staff_2fa"], ["wrong", "locked", "dead", "expired"]
    ):
        who = event.actor_staff or "—"
        counts[who] += 1
        if event.result == "locked":
            locked.add(who)
    return [
        Finding(
            who,
            count,
            ["触发了登录限制"] if who in locked else [],
            flagged=count >= FAILED_LOGINS or who in locked,
        )
        for who, count in counts.most_common()
    ]


def student_bursts(db: Session, week: Week) -> list[Finding]:
    """One student's record tried hard: 5 wrong SMS codes within a day, or 3 different accounts
    matching it in a week. Named by record number only."""
    wrong: Counter[tuple[int, date]] = Counter()
    for event in db.scalars(
        select(OtpEvent).where(
            OtpEvent.at >= week.start,
            OtpEvent.at < week.end,
            OtpEvent.student_id.is_not(None),
            OtpEvent.kind.in_([OtpEventKind.FAILED, OtpEventKind.LOCKED]),
        )
    ):
        wrong[(event.student_id, local(event.at).date())] += 1
    claimants: dict[int, set[int]] = defaultdict(set)
    for event in _audits(db, week.start, week.end, ["bind_match", "proxy_match"], ["matched"]):
        if event.subject_student_id and event.actor_account_id:
            claimants[event.subject_student_id].add(event.actor_account_id)
    found: dict[int, list[str]] = defaultdict(list)
    for (student_id, day), count in sorted(wrong.items()):
        if count >= CODE_BURST:
            found[student_id].append(f"{day:%m-%d} 验证码错误 {count} 次")
    for student_id, accounts in claimants.items():
        if len(accounts) >= CLAIMANTS:
            found[student_id].append(f"{len(accounts)} 个不同账号核对身份相符")
    return [Finding(f"#{sid}", len(facts), facts) for sid, facts in sorted(found.items())]


SECTIONS = {
    "reveals": ("显示个人信息次数", reveals),
    "odd_hours": ("非工作时间登录（22:00—7:00）", odd_hours),
    "new_addresses": ("新地址登录", new_addresses),
    "exports": ("导出 CSV", exports),
    "failed_logins": ("登录失败", failed_logins),
    "student_bursts": ("同一学生记录的异常尝试", student_bursts),
}


def weekly_report(db: Session, week: Week) -> Report:
    """Every section of the report for `week`."""
    return Report(week, {key: build(db, week) for key, (_title, build) in SECTIONS.items()})


# -- telling the auditors (upkeep) ------------------------------------------------------------------
def notice_due(redis, now: datetime) -> Week | None:
    """Last week's report, once Monday 08:00 local has passed and the auditors were not yet told."""
    this_monday = Week.containing(now)
    if local(now) < datetime.combine(this_monday.monday, time(NOTICE_HOUR), SHANGHAI):
        return None
    week = Week.last_complete(now)
    return None if redis.exists(keys.anomaly_report_sent(week.label)) else week


def tell_auditors(s, payload: dict) -> None:
    """The effect: text each active auditor that the week's report is ready (once per week, across
    workers); audited per auditor. The SMS says only the week and how many items need a look."""
    week = Week.parse(payload["week"])
    if week is None or not s.redis.set(
        keys.anomaly_report_sent(week.label), "1", nx=True, ex=8 * 24 * 3600
    ):
        return
    flagged = weekly_report(s.db, week).flagged
    auditors = s.db.scalars(
        select(StaffUser).where(StaffUser.role == StaffRole.AUDITOR, StaffUser.active.is_(True))
    ).all()
    sent = 0
    for auditor in auditors:
        phone = staff_phone(s.cipher, auditor)
        result = "no_phone"
        if phone:
            try:
                s.sms.send_notice(phone, "anomaly_report", [week.title, str(flagged)])
                result, sent = "ok", sent + 1
            except SmsError:
                result = "sms_failed"
        s.db.add(
            AuditEvent(
                actor_staff="system",
                action="anomaly_notice",
                result=result,
                detail=f"{week.label} to={auditor.username} flagged={flagged}",
            )
        )
    if auditors and not sent:  # nobody reached: try again at the next sweep
        s.redis.delete(keys.anomaly_report_sent(week.label))
