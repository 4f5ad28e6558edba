"""The dashboard in the console: every chart drawn from a seeded month, the reviewers' figures for
directors only, CSV downloads equal to the figures, the date range, who may open it, and the
lookups of the verification page that it counts."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.dashboard import figures
from bot.dashboard.rules import period_from
from models import AuditEvent, Certificate, StaffRole, VerificationLookup, utcnow
from tests.dashboard_seed import seed_month
from tests.handlers.console.test_appeals import login, make_staff


def _seeded(app):
    make_staff(app, "clerk1", name="王办事")
    make_staff(app, "clerk2", name="赵办事")
    make_staff(app, "director1", role="director", phone="13700000009", name="李主任")
    seed_month(app, datetime.now(UTC))


def test_a_director_sees_every_chart_with_data(app):
    _seeded(app)
    client = app.test_client()
    login(client, "director1")
    res = client.get("/console/dashboard")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    drawn = re.findall(r'<svg [^>]*data-figure="([a-z_]+)"', html)
    assert drawn == [*figures.SERVICE, "reviewers"]
    for key in drawn:  # every chart has marks (bars or points), not only axes
        svg = html.split(f'data-figure="{key}"', 1)[1].split("</svg>", 1)[0]
        assert "<rect x=" in svg or "<circle" in svg, key
    assert "王办事（clerk1）" in html and "数据看板" in html
    assert " style=" not in html.split("<main", 1)[1]  # CSP: no inline style attributes
    with app.extensions["gradcert"].sessions() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "view_dashboard"))


def test_each_csv_equals_its_figure(app):
    _seeded(app)
    client = app.test_client()
    login(client, "director1")
    now = datetime.now(UTC)
    period = period_from(None, None, now)
    with app.extensions["gradcert"].sessions() as db:
        for key in (*figures.SERVICE, "reviewers"):
            res = client.get(f"/console/dashboard/{key}.csv", query_string=period.as_args())
            assert res.status_code == 200 and res.mimetype == "text/csv"
            rows = list(csv.reader(io.StringIO(res.get_data(as_text=True).lstrip("\ufeff"))))
            fig = figures.figure(db, key, period, now)
            assert rows[0] == list(fig.header)
            assert rows[1:] == [[str(v) for v in row] for row in fig.rows]
    assert client.get("/console/dashboard/secrets.csv").status_code == 404
    assert client.get("/console/dashboard/sms.csv?start=2026-02-30").status_code == 400


def test_a_bad_range_is_explained_and_a_chosen_range_is_kept(app):
    _seeded(app)
    client = app.test_client()
    login(client, "director1")
    res = client.get("/console/dashboard?start=2026-11-20&end=2026-11-01")
    assert res.status_code == 400 and "开始日期晚于结束日期" in res.get_data(as_text=True)
    res = client.get("/console/dashboard?start=2026-11-01&end=2026-11-07")
    assert 'value="2026-11-01"' in res.get_data(as_text=True)


def test_clerks_cannot_open_it_and_auditors_do_not_see_reviewers(app):
    _seeded(app)
    clerk = app.test_client()
    login(clerk, "clerk1")
    assert clerk.get("/console/dashboard").status_code == 403
    assert clerk.get("/console/dashboard/sms.csv").status_code == 403
    assert "数据看板" not in clerk.get("/console/").get_data(as_text=True)
    if "auditor" not in {role.value for role in StaffRole}:
        return  # the auditor role arrives with the staff accounts work (issue 15, part A)
    make_staff(app, "auditor1", role="auditor", phone="13700000008", name="纪检员")
    auditor = app.test_client()
    login(auditor, "auditor1")
    html = auditor.get("/console/dashboard").get_data(as_text=True)
    assert 'data-figure="sms"' in html and 'data-figure="reviewers"' not in html
    assert auditor.get("/console/dashboard/reviewers.csv").status_code == 404


def test_verification_lookups_are_counted_without_the_code(app):
    _seeded(app)
    client = app.test_client()
    with app.extensions["gradcert"].sessions() as db:
        cert = db.scalars(select(Certificate)).first()
        before = db.query(VerificationLookup).count()
    client.get(f"/v/{cert.code}")
    client.get("/v/ZZZZ0000ZZZZ")
    rt = app.extensions["gradcert"]
    with rt.sessions() as db:  # counted in Redis; the sweep writes the minutes that have passed
        assert rt.lookups.flush(db, utcnow()) == 0
        assert db.query(VerificationLookup).count() == before
        assert rt.lookups.flush(db, utcnow() + timedelta(minutes=1)) == 2
        db.commit()
        assert rt.lookups.flush(db, utcnow() + timedelta(minutes=1)) == 0  # taken once
    with rt.sessions() as db:
        rows = db.scalars(select(VerificationLookup).order_by(VerificationLookup.id.desc())).all()
        assert len(rows) == before + 2
        found = sorted((r.certificate_id or 0, r.outcome) for r in rows[:2])
        # (the seeded certificate's signature does not check out)
        assert found == [(0, "unknown"), (cert.id, "tampered")]
