"""Console login under attack (issue 12): the failure count is taken before the password is
checked, atomically, per (username, address) and per address; a locked state is refused without
checking the password; the counts survive a Redis restart. Real app, real Redis, real threads."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from bot.platform import staff_auth
from models import SecurityCounter
from tests.handlers.console.test_appeals import PASSWORD, audits, login, make_staff


@pytest.fixture
def checked(monkeypatch):
    """Every password check the login makes (thread-safe)."""
    calls, lock = [], threading.Lock()
    real = staff_auth.check_password

    def counting(stored, password):
        with lock:
            calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(staff_auth, "check_password", counting)
    return calls


def _from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _concurrently(app, attempts):
    """Run the (username, password, address) logins all at once; their status codes."""
    clients = [
        (_from(app, address), username, password) for username, password, address in attempts
    ]
    for client, _, _ in clients:
        client.get("/console/login")  # the CSRF token, before the race starts
    start, codes = threading.Barrier(len(clients)), []

    def attempt(client, username, password):
        start.wait()
        codes.append(login(client, username, password).status_code)

    threads = [threading.Thread(target=attempt, args=c) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return codes


def test_forty_concurrent_wrong_passwords_check_at_most_five(app, checked):
    make_staff(app, "director1", "director", phone="13900000009")
    codes = _concurrently(
        app, [("director1", f"guess number {i:02d}", "203.0.113.7") for i in range(40)]
    )
    assert codes == [401] * 40
    assert len(checked) == 5
    assert [a.result for a in audits(app, "staff_login")].count("failed") == 5
    assert [a.result for a in audits(app, "staff_login")].count("throttled") == 35
    # the attacker's address cannot lock the director out: from the office it still works
    assert login(_from(app, "10.1.2.3"), "director1", PASSWORD).status_code == 302


def test_thirty_usernames_from_one_address_check_at_most_the_address_limit(app, checked):
    for n in range(3):
        make_staff(app, f"clerk{n}")
    names = [f"clerk{n % 3}" if n < 3 else f"guessed{n:02d}" for n in range(30)]
    codes = [
        login(_from(app, "198.51.100.4"), name, "wrong password!").status_code for name in names
    ]
    assert codes == [401] * 30
    assert len(checked) == staff_auth.ADDRESS_LIMIT == 10
    refused = login(_from(app, "198.51.100.4"), "clerk1", PASSWORD)
    assert refused.status_code == 401 and "尝试次数过多" in refused.get_data(as_text=True)
    assert len(checked) == 10  # refused without checking the (right) password
    assert login(_from(app, "10.1.2.3"), "clerk1", PASSWORD).status_code == 302


def test_the_same_race_from_many_addresses_checks_five_per_address(app, checked):
    make_staff(app)
    attempts = [("clerk1", "nope nope nope", f"192.0.2.{i % 4}") for i in range(40)]
    assert _concurrently(app, attempts) == [401] * 40
    assert len(checked) == 4 * staff_auth.LOGIN_LIMIT


def test_a_success_gives_its_count_back(app, checked):
    make_staff(app)
    office = "10.9.9.9"
    for _ in range(12):  # twelve good logins from one office address, more than the limits
        assert login(_from(app, office), "clerk1", PASSWORD).status_code == 302
    for _ in range(4):
        assert login(_from(app, office), "clerk1", "typo typo typo").status_code == 401
    assert login(_from(app, office), "clerk1", PASSWORD).status_code == 302


def test_a_lockout_survives_a_redis_restart(app, checked):
    make_staff(app)
    rt = app.extensions["gradcert"]
    for _ in range(5):
        login(_from(app, "203.0.113.9"), "clerk1", "wrong wrong wrong")
    with rt.sessions() as db:
        rows = db.scalars(select(SecurityCounter)).all()
    assert {r.kind for r in rows} == {"console_login"} and max(r.count for r in rows) == 5
    assert all("clerk1" not in r.key_digest and "203.0" not in r.key_digest for r in rows)
    rt.redis.flushdb()  # Redis restarted without persistence
    locked = login(_from(app, "203.0.113.9"), "clerk1", PASSWORD)
    assert locked.status_code == 401 and "尝试次数过多" in locked.get_data(as_text=True)
    assert len(checked) == 5
