"""The registrar sync's status page: directors see the last run, the lag, an interrupted pass and
the refused rows (masked); clerks may not open it; each view is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.platform.registrar_source import RegistrarSource
from bot.platform.registrar_sync import SyncKind, sync
from models import utcnow
from models.registrar_sync import RegistrarSync
from tests.bot.platform.test_registrar import ident, row
from tests.bot.platform.test_registrar_sync import Registrar, source_url  # noqa: F401
from tests.handlers.console.test_appeals import audits, login, make_staff, rt_of


@pytest.fixture
def director(make_app, source_url):  # noqa: F811
    app = make_app(REGISTRAR_URL=source_url, REGISTRAR_QUERY="registrar_records")
    make_staff(app, "boss", "director", phone="13900000001", name="李主任")
    make_staff(app, "clerk1")
    client = app.test_client()
    assert login(client, "boss").status_code == 302
    return app, client


def test_directors_see_the_last_run_the_lag_and_the_refused_rows(director, source_url):  # noqa: F811
    app, client = director
    rt = rt_of(app)
    bad = ident(3)[:-1] + ("0" if ident(3)[-1] != "0" else "1")
    registrar = Registrar(source_url)
    registrar.put(row("S1", 1, updated_at="2026-06-01 10:00:00"))
    registrar.put(row("S3", 3, id_number=bad, updated_at="2026-06-01 10:00:00"))
    source = RegistrarSource(source_url, "registrar_records")
    try:
        sync(
            rt.sessions,
            rt.domain.cipher,
            source,
            SyncKind.FULL,
            now=utcnow() - timedelta(minutes=7),
        )
    finally:
        source.close()
        registrar.engine.dispose()
    page = client.get("/console/registrar")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "学籍同步" in html
    assert 'id="lag">7 分钟' in html and "added 1" in html and "refused 1" in html
    assert "被拒绝的记录（1）" in html and "S3" in html and "校验位错误" in html
    assert bad not in html and ident(1) not in html
    assert "sync-error" not in html and "sync-stale" not in html
    assert [a.detail for a in audits(app, "view_registrar")] == ["refused=1"]
    with rt.sessions() as db:  # a pass that stopped half-way is shown with what happens next
        state = db.query(RegistrarSync).one()
        state.last_error, state.full_mark = "OperationalError", '["v", "x", "S1", "main"]'
        state.last_success_at = utcnow() - timedelta(hours=2)
        db.commit()
    html = client.get("/console/registrar").get_data(as_text=True)
    assert "上次同步中断（OperationalError）" in html and "全量核对进行中" in html
    assert 'id="sync-stale"' in html


def test_clerks_may_not_open_it_and_the_menu_shows_it_to_directors_only(director):
    app, client = director
    assert 'href="/console/registrar"' in client.get("/console/").get_data(as_text=True)
    clerk = app.test_client()
    assert login(clerk).status_code == 302
    assert clerk.get("/console/registrar").status_code == 403
    assert 'href="/console/registrar"' not in clerk.get("/console/").get_data(as_text=True)
