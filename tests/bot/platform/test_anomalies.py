"""The weekly anomaly report, section by section, on a seeded week (and the weeks before it for
the baselines), the page auditors read, and the Monday SMS that tells them it is ready."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.platform.anomalies import Week, weekly_report
from handlers.jobs import sweep
from models import Account, AuditEvent, OtpEvent, StaffSignIn, StaffUser, Student
from tests.conftest import APP_ID, Chat, outbox
from tests.handlers.console.test_appeals import login, make_staff, rt_of

WEEK = Week(date(2026, 11, 16))  # Monday 16 November 2026, Shanghai
AUDITOR_PHONE = "13700000008"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local (UTC+8) time in November 2026 as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def _seed(app, demo) -> dict[str, int]:
    make_staff(app, "clerk1")
    make_staff(app, "clerk2", name="赵办事")
    make_staff(app, "clerk3", name="钱办事")
    make_staff(app, "audit1", "auditor", AUDITOR_PHONE, name="纪检员")
    rt = rt_of(app)
    with rt.sessions() as db:
        staff = {u.username: u.id for u in db.scalars(select(StaffUser))}
        students = [s.id for s in db.scalars(select(Student).order_by(Student.id))][:3]
        accounts = [Account(channel="wx", app_id=APP_ID, user_key=f"o-{i}") for i in range(4)]
        db.add_all(accounts)
        db.flush()
        rows = []

        def audit(when, action, who=None, **extra):
            rows.append(AuditEvent(at=when, action=action, actor_staff=who, **extra))

        # reveals: clerk1 25 this week (2 before: unusual); clerk2 21 (40 a week before: usual)
        for i in range(25):
            audit(at(17, 9, i), "reveal_pii", "clerk1", subject_student_id=students[0])
        for i in range(2):
            audit(at(3, 9, i), "reveal_pii", "clerk1")
        for i in range(21):
            audit(at(18, 10, i), "reveal_pii", "clerk2")
        for i in range(160):
            audit(at(2 + i % 14, 11, i % 60), "reveal_pii", "clerk2")
        audit(at(10, 9), "reveal_pii", "clerk3")
        audit(at(24, 9), "reveal_pii", "clerk3")  # the next week: not counted
        # sign-ins: clerk1 late at night, and from a new address; clerk2 for the first time ever
        db.add_all(
            [
                StaffSignIn(
                    staff_id=staff["clerk1"], at=at(2, 9), address="10.0.0.1", factor="password"
                ),
                StaffSignIn(
                    staff_id=staff["clerk1"], at=at(17, 9), address="10.0.0.1", factor="password"
                ),
                StaffSignIn(
                    staff_id=staff["clerk1"],
                    at=at(18, 23, 30),
                    address="10.0.0.1",
                    factor="password",
                ),
                StaffSignIn(
                    staff_id=staff["clerk1"],
                    at=at(19, 10),
                    address="203.0.113.9",
                    factor="password",
                ),
                StaffSignIn(
                    staff_id=staff["clerk2"],
                    at=at(20, 6, 50),
                    address="10.0.0.2",
                    factor="password",
                ),
                StaffSignIn(
                    staff_id=staff["clerk2"], at=at(20, 7, 0), address="10.0.0.2", factor="password"
                ),
            ]
        )
        # an export; failed sign-ins
        audit(at(19, 15), "export_csv", "boss", detail="rows=12 filters={}")
        audit(at(19, 15), "export_csv", "boss", result="wrong")
        for i in range(5):
            audit(at(20, 3, i), "staff_login", result="failed", detail="username=clerk1")
        audit(at(20, 4), "staff_login", result="failed", detail="username=nobody")
        audit(at(20, 5), "staff_2fa", "clerk2", result="locked", detail="totp")
        # one student's record: 5 wrong codes in a day; another: 3 accounts matching it
        for i in range(5):
            db.add(
                OtpEvent(
                    account_id=accounts[0].id,
                    student_id=students[1],
                    kind="failed",
                    at=at(21, 12, i),
                )
            )
        for i in range(4):
            db.add(
                OtpEvent(
                    account_id=accounts[0].id,
                    student_id=students[0],
                    kind="failed",
                    at=at(21, 12, i),
                )
            )
        for account in accounts[:3]:
            audit(
                at(22, 8),
                "bind_match",
                actor_account_id=account.id,
                subject_student_id=students[2],
                result="matched",
            )
        db.add_all(rows)
        db.commit()
    return {"students": students, **staff}


def _by_who(findings):
    return {f.who: f for f in findings}


def test_each_section_finds_what_happened_that_week(app, demo):
    seeded = _seed(app, demo)
    s1, s2, s3 = seeded["students"]
    with rt_of(app).sessions() as db:
        report = weekly_report(db, WEEK)
    reveals = _by_who(report.sections["reveals"])
    assert (reveals["clerk1"].count, reveals["clerk1"].flagged) == (25, True)
    assert (reveals["clerk2"].count, reveals["clerk2"].flagged) == (21, False)
    assert "clerk3" not in reveals
    assert reveals["clerk2"].facts == ["前 4 周平均每周 40.0 次"]

    odd = _by_who(report.sections["odd_hours"])
    assert odd["clerk1"].facts == ["11-18 23:30 自 10.0.0.1"]
    assert odd["clerk2"].facts == ["11-20 06:50 自 10.0.0.2"]  # 07:00 is working time

    new = _by_who(report.sections["new_addresses"])
    assert new["clerk1"].facts == ["11-19 10:00 首次自 203.0.113.9"] and new["clerk1"].flagged
    assert new["clerk2"].count == 1 and not new["clerk2"].flagged  # a first sign-in ever

    [export] = report.sections["exports"]
    assert (export.who, export.facts) == ("boss", ["11-19 15:00 导出 12 行"])

    failed = _by_who(report.sections["failed_logins"])
    assert (failed["clerk1"].count, failed["clerk1"].flagged) == (5, True)
    assert (failed["nobody"].count, failed["nobody"].flagged) == (1, False)
    assert failed["clerk2"].flagged and failed["clerk2"].facts == ["触发了登录限制"]

    bursts = _by_who(report.sections["student_bursts"])
    assert bursts[f"#{s2}"].facts == ["11-21 验证码错误 5 次"]
    assert bursts[f"#{s3}"].facts == ["3 个不同账号核对身份相符"]
    assert f"#{s1}" not in bursts
    assert report.flagged == 1 + 2 + 1 + 1 + 2 + 2


def test_the_auditor_reads_the_report_without_personal_data(app, demo):
    seeded = _seed(app, demo)
    auditor = app.test_client()
    login(auditor, "audit1")
    html = auditor.get(f"/console/anomalies?week={WEEK.label}").text
    assert "2026年11月16日—11月22日：9 项需关注" in html
    assert "203.0.113.9" in html and "导出 12 行" in html and f"#{seeded['students'][1]}" in html
    for name, row in demo.items():
        assert name not in html and row[2] not in html  # no names, no ID numbers
    assert auditor.get("/console/anomalies?week=2099-W01").status_code == 200  # the current week
    with rt_of(app).sessions() as db:
        assert db.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "view_anomalies")
        ).all() == [WEEK.label, Week.containing(rt_of(app).domain.clock()).label]


@pytest.mark.parametrize("hour, told", [(7, False), (9, True)])
def test_auditors_are_texted_on_monday_morning_once(app, demo, hour, told):
    _seed(app, demo)
    rt = rt_of(app)
    rt.domain.clock = lambda: at(23, hour)  # the Monday after the week
    with app.app_context():
        sweep()
    Chat(app).run_jobs()
    with app.app_context():
        sweep()
    Chat(app).run_jobs()
    sent = [m for m in outbox(app) if m.get("notice")]
    if not told:
        assert sent == []
        return
    [sms] = sent
    assert sms["phone"] == AUDITOR_PHONE and sms["notice"] == "anomaly_report"
    assert "2026年11月16日—11月22日的工作人员操作异常周报已生成（9 项需关注）" in sms["text"]
    assert len(sms["text"]) <= 70 and "clerk" not in sms["text"]
    with rt.sessions() as db:
        [row] = db.scalars(select(AuditEvent).where(AuditEvent.action == "anomaly_notice")).all()
        assert (row.actor_staff, row.result) == ("system", "ok")
        assert row.detail == f"{WEEK.label} to=audit1 flagged=9"
