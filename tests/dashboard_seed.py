"""A month of service for the dashboard's tests: tickets filed, reviewed, decided and reopened by
two clerks; binding attempts that miss, fail the code or succeed; SMS sent and failed;
certificates issued; lookups on the verification page. Deterministic (a seeded random)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.appeals.rules import CATEGORIES
from bot.diploma.certificates import new_code
from bot.platform.demo import seed_demo
from bot.platform.workdays import today_in_china
from models import (
    Account,
    Appeal,
    AppealEvent,
    AppealEventKind,
    AppealStatus,
    AuditEvent,
    Certificate,
    Diploma,
    LookupOutcome,
    OtpEvent,
    OtpEventKind,
    StaffUser,
    Student,
    VerificationLookup,
)

DAYS = 30


def seed_month(app, end: datetime | None = None, seed: int = 15) -> dict:
    """Rows over the DAYS days that end at `end` (now); returns counts of what was written."""
    rt = app.extensions["gradcert"]
    seed_demo(rt, diplomas=True)
    rng = random.Random(seed)
    end = end or datetime.now(UTC)
    start = end - timedelta(days=DAYS)

    def moment() -> datetime:
        return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds()) - 7200))

    written = {"appeals": 0, "lookups": 0, "certificates": 0}
    with rt.sessions() as db:
        staff = db.scalars(select(StaffUser).where(StaffUser.role == "clerk")).all()
        assert staff, "make the clerks first"
        accounts = [
            Account(channel="wx", app_id="wxseed", user_key=f"seed-{seed}-{n}") for n in range(8)
        ]
        db.add_all(accounts)
        db.flush()
        students = db.scalars(select(Student)).all()
        for n in range(60):
            filed = moment()
            category = rng.choice(CATEGORIES).key
            appeal = Appeal(
                ticket_no=f"GA{seed:02d}{n:06d}",
                account_id=rng.choice(accounts).id,
                student_id=rng.choice(students).id,
                category=category,
                description="seeded",
                created_at=filed,
                updated_at=filed,
                status_changed_at=filed,
                due_date=today_in_china(filed) + timedelta(days=rng.choice((2, 5, 7))),
            )
            db.add(appeal)
            db.flush()
            events = [AppealEvent(appeal_id=appeal.id, at=filed, kind=AppealEventKind.SUBMITTED)]
            at, status = filed, AppealStatus.SUBMITTED
            clerk = rng.choice(staff)
            steps = rng.choice(
                (
                    (),
                    ("under_review",),
                    ("under_review", "resolved"),
                    ("rejected",),
                    ("under_review", "resolved", "under_review", "resolved"),
                    ("need_more_info", "under_review", "rejected"),
                )
            )
            if rng.random() < 0.3:
                at += timedelta(hours=rng.randrange(1, 30))
                events.append(
                    AppealEvent(
                        appeal_id=appeal.id,
                        at=at,
                        kind=AppealEventKind.NOTE,
                        actor_staff_id=clerk.id,
                        note="seeded note",
                    )
                )
            for to in steps:
                at += timedelta(hours=rng.randrange(1, 100), minutes=rng.randrange(60))
                who = rng.choice(staff) if rng.random() < 0.3 else clerk
                events.append(
                    AppealEvent(
                        appeal_id=appeal.id,
                        at=at,
                        kind=AppealEventKind.STATUS,
                        from_status=status,
                        to_status=to,
                        actor_staff_id=who.id,
                    )
                )
                status = AppealStatus(to)
            appeal.status, appeal.status_changed_at = status, at
            db.add_all(events)
            written["appeals"] += 1
        for _ in range(150):
            at, account = moment(), rng.choice(accounts)
            matched = rng.random() < 0.7
            student = rng.choice(students)
            db.add(
                AuditEvent(
                    at=at,
                    actor_account_id=account.id,
                    action="bind_match",
                    subject_student_id=student.id if matched else None,
                    result="matched" if matched else "no_match",
                )
            )
            if not matched:
                continue
            sent = rng.random() < 0.9
            db.add(
                OtpEvent(
                    account_id=account.id,
                    student_id=student.id,
                    purpose="bind",
                    kind=OtpEventKind.SENT if sent else OtpEventKind.SEND_FAILED,
                    at=at + timedelta(seconds=5),
                )
            )
            if not sent:
                continue
            wrong = rng.choice((0, 0, 0, 1, 2, 5))
            for k in range(wrong):
                db.add(
                    OtpEvent(
                        account_id=account.id,
                        student_id=student.id,
                        purpose="bind",
                        kind=OtpEventKind.LOCKED if k == 4 else OtpEventKind.FAILED,
                        at=at + timedelta(seconds=30 + k),
                    )
                )
            if wrong < 5:
                db.add(
                    OtpEvent(
                        account_id=account.id,
                        student_id=student.id,
                        purpose="bind",
                        kind=OtpEventKind.VERIFIED,
                        at=at + timedelta(seconds=60),
                    )
                )
                db.add(
                    AuditEvent(
                        at=at + timedelta(seconds=61),
                        actor_account_id=account.id,
                        action="bind",
                        subject_student_id=student.id,
                        result="bound",
                    )
                )
        for _ in range(40):  # codes for looking up a diploma
            db.add(
                OtpEvent(
                    account_id=rng.choice(accounts).id,
                    purpose="lookup",
                    at=moment(),
                    kind=rng.choice(
                        (OtpEventKind.SENT, OtpEventKind.SENT, OtpEventKind.SEND_FAILED)
                    ),
                )
            )
        diplomas = db.scalars(select(Diploma).where(Diploma.certificate_no.is_not(None))).all()
        certificates = []
        for _ in range(25):
            diploma, issued = rng.choice(diplomas), moment()
            cert = Certificate(
                code=new_code(),
                student_id=diploma.student_id,
                diploma_id=diploma.id,
                issued_at=issued,
                valid_from=issued,
                valid_until=issued + timedelta(days=30),
                content="{}",
                digest="0" * 64,
                signature="0" * 128,
            )
            db.add(cert)
            certificates.append(cert)
        db.flush()
        written["certificates"] = len(certificates)
        for _ in range(120):
            outcome = rng.choice(list(LookupOutcome) + [LookupOutcome.VALID] * 3)
            cert = None if outcome is LookupOutcome.UNKNOWN else rng.choice(certificates)
            db.add(
                VerificationLookup(
                    at=moment(), outcome=outcome, certificate_id=cert.id if cert else None
                )
            )
            written["lookups"] += 1
        db.commit()
    return written
