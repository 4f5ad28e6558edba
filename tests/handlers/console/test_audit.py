"""The oversight pages: every action and result the code audits has one Chinese label; the audit
log's date range, staff, action, record and result filters and its pages; what an auditor (纪检)
may and may not open; and that a clerk reaches no director page."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from handlers.console.audit_labels import ACTION_NAMES, RESULT_NAMES
from models import AuditEvent
from tests.handlers.console.test_appeals import (
    DIRECTOR_PHONE,
    file_ticket,
    login,
    make_staff,
    post,
    rt_of,
)

ROOT = Path(__file__).resolve().parents[3]


def _written() -> tuple[set[str], set[str]]:
    """Every literal action and result passed to an audit-writing call in bot/ and handlers/."""
    actions, results = set(), set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name not in ("audit", "record", "_done", "AuditEvent", "match_identity"):
                continue
            first = next(  # the action: the first argument that is (or chooses between) strings
                (
                    [v.value for v in ast.walk(arg) if isinstance(v, ast.Constant)]
                    for arg in node.args
                    if isinstance(arg, ast.Constant | ast.IfExp)
                    and any(
                        isinstance(v, ast.Constant) and isinstance(v.value, str)
                        for v in ast.walk(arg)
                    )
                ),
                [],
            )
            actions.update(
                t for t in first if isinstance(t, str) and re.fullmatch(r"[a-z0-9_]+", t)
            )
            for keyword in node.keywords:
                for value in ast.walk(keyword.value):
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        if keyword.arg == "result" and re.fullmatch(r"[a-z_]+", value.value):
                            results.add(value.value)
                        if keyword.arg in ("action",) and re.fullmatch(r"[a-z_]+", value.value):
                            actions.add(value.value)
    return actions, results


def test_every_audited_action_and_result_has_a_chinese_label():
    actions, results = _written()
    assert len(actions) > 30 and {"reveal_pii", "staff_2fa", "bind", "proxy_match"} <= actions
    assert actions - set(ACTION_NAMES) == set()
    assert results - set(RESULT_NAMES) == set()
    # the values other enums write as results (OTP checks and refusals)
    from bot.platform.otp import Check, Refusal

    assert {c.value for c in Check} | {r.value for r in Refusal} <= set(RESULT_NAMES)
    assert all(re.search(r"[\u4e00-\u9fff]", label) for label in ACTION_NAMES.values())
    assert all(re.search(r"[\u4e00-\u9fff]", label) for label in RESULT_NAMES.values())


def _seed(app, rows):
    with rt_of(app).sessions() as db:
        db.add_all(rows)
        db.commit()


def _table(html: str) -> str:
    return html.split('id="audit"')[1].split("</table>")[0]


@pytest.fixture
def director(app):
    make_staff(app, "boss", "director", DIRECTOR_PHONE, name="李主任")
    client = app.test_client()
    assert login(client, "boss").status_code == 302
    return client


def test_the_audit_log_filters_by_local_dates_staff_action_record_and_result(app, director):
    # 2026-03-01 23:30 in Shanghai is 15:30 UTC the same day; 2026-03-02 00:30 is 16:30 UTC
    _seed(
        app,
        [
            AuditEvent(
                at=datetime(2026, 3, 1, 15, 30, tzinfo=UTC),
                actor_staff="clerk1",
                action="reveal_pii",
                subject_student_id=7,
                detail="first",
            ),
            AuditEvent(
                at=datetime(2026, 3, 1, 16, 30, tzinfo=UTC),
                actor_staff="clerk2",
                action="export_csv",
                result="wrong",
                detail="second",
            ),
            AuditEvent(
                at=datetime(2026, 3, 3, 2, 0, tzinfo=UTC),
                actor_account_id=None,
                action="bind_match",
                subject_student_id=7,
                result="matched",
                detail="third",
            ),
        ],
    )
    table = _table(director.get("/console/audit?since=2026-03-01&until=2026-03-01").text)
    assert "first" in table and "second" not in table and "third" not in table
    assert "2026-03-01 23:30" in table and "显示个人信息" in table and "成功" in table
    table = _table(director.get("/console/audit?since=2026-03-02&until=2026-03-03").text)
    assert "first" not in table and "second" in table and "third" in table
    assert "验证码错误" in table and "导出 CSV" in table and "身份相符" in table
    assert "export_csv" not in table and ">wrong<" not in table  # labels, not codes
    table = _table(director.get("/console/audit?subject=%237").text)
    assert "first" in table and "third" in table and "second" not in table
    table = _table(director.get("/console/audit?staff=CLERK2").text)
    assert "second" in table and "first" not in table
    table = _table(director.get("/console/audit?action=bind_match&result=matched").text)
    assert "third" in table and "first" not in table
    html = director.get("/console/audit?since=2026-02-30&action=nonsense&subject=x&page=²").text
    assert html.count('class="detail"') >= 3  # malformed filters are ignored, not a 500
    with rt_of(app).sessions() as db:
        seen = db.scalars(
            select(AuditEvent.detail)
            .where(AuditEvent.action == "view_audit")
            .order_by(AuditEvent.id)
        ).all()
    assert seen[0] == "since=2026-03-01 until=2026-03-01" and seen[2] == "subject=7"


def test_the_audit_log_pages_fifty_rows_at_a_time(app, director):
    start = datetime(2026, 5, 1, tzinfo=UTC)
    _seed(
        app,
        [
            AuditEvent(
                at=start + timedelta(minutes=i),
                actor_staff="clerk1",
                action="view_ticket",
                detail=f"row-{i}",
            )
            for i in range(120)
        ],
    )
    first = director.get("/console/audit?action=view_ticket").text
    assert "共 120 条" in first and "第 1 / 3 页" in first
    assert "row-119<" in first and "row-70<" in first and "row-69<" not in first
    third = director.get("/console/audit?action=view_ticket&page=3").text
    assert "row-19<" in third and "row-0<" in third and "row-20<" not in third
    assert 'href="/console/audit?page=2&amp;action=view_ticket"' in third
    past = director.get("/console/audit?action=view_ticket&page=9").text
    assert "第 3 / 3 页" in past


def test_an_auditor_reads_the_trail_and_the_report_and_nothing_else(app):
    make_staff(app)
    make_staff(app, "audit1", "auditor", "13700000008", name="纪检员")
    appeal_id, ticket_no = file_ticket(app)
    auditor = app.test_client()
    assert login(auditor, "audit1").status_code == 302
    home = auditor.get("/console/anomalies")
    assert home.status_code == 200 and "工作人员操作异常报告" in home.text
    nav = home.text.split('aria-label="主菜单"')[1].split("</nav>")[0]
    assert (
        "审计日志" in nav and "异常报告" in nav and "工单队列" not in nav and "用户管理" not in nav
    )
    assert auditor.get("/console/audit").status_code == 200
    for url in (
        "/console/",
        f"/console/tickets/{appeal_id}",
        "/console/proxies",
        "/console/users",
        "/console/export",
        "/console/attachments/1",
    ):
        assert auditor.get(url).status_code == 403, url
    res = post(auditor, f"/console/tickets/{appeal_id}/reveal")
    assert res.status_code == 403 and ticket_no not in res.text
    for action in ("status", "note"):
        assert post(auditor, f"/console/tickets/{appeal_id}/{action}").status_code == 403
    with rt_of(app).sessions() as db:
        assert not db.scalars(select(AuditEvent).where(AuditEvent.action == "reveal_pii")).all()


def _director_only_rules(app):
    """Every console page a clerk's role does not grant (by the permission each view requires)."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console/") or "GET" not in rule.methods:
            continue
        if rule.endpoint.split(".")[1] in ("admin", "audit", "dashboard", "imports", "calendar"):
            out.append(rule)
    return out


def test_a_clerk_reaches_no_director_page(app, client):
    make_staff(app)
    login(client)
    rules = _director_only_rules(app)
    assert {"/console/users", "/console/audit", "/console/anomalies", "/console/export"} <= {
        r.rule for r in rules
    }
    for rule in rules:
        url = re.sub(r"<int[^>]*:\w+>", "1", re.sub(r"<(?:string:)?\w+>", "x", rule.rule))
        assert client.get(url).status_code in (403, 404), url
    nav = client.get("/console/").text.split('aria-label="主菜单"')[1].split("</nav>")[0]
    assert "用户管理" not in nav and "审计日志" not in nav and "异常报告" not in nav
