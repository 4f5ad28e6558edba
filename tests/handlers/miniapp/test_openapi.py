"""The OpenAPI document is true: every /api/v1 route is in it with the same methods (and nothing
else is), and schemathesis, run against the app with it, finds no server error and no answer that
breaks the schema."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from tests.conftest import outbox
from tests.miniapp_support import MiniClient, add_diploma

IGNORED = {"HEAD", "OPTIONS"}


def _flask_routes(app) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(
                r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule
            )  # <int(max=..):id>
            routes.setdefault(path, set()).update(m.upper() for m in rule.methods - IGNORED)
    return routes


def test_every_route_is_documented_with_its_methods(mini_app):
    document = mini_app.test_client().get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    documented = {path: {m.upper() for m in ops} for path, ops in document["paths"].items()}
    assert documented == _flask_routes(mini_app)
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            names = set(re.findall(r"{(\w+)}", path))
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert names == params, f"{method} {path}"
            assert "429" in operation["responses"], f"{method} {path} has no rate-limit answer"


@pytest.fixture
def api_schema(mini_app, stubs, make_app):
    """The schema served by an app whose user is bound, verified, and has a diploma on file."""
    from bot.platform.demo import demo_students, seed_demo

    seed_demo(mini_app.extensions["gradcert"])
    _, _, id_number, phone, _ = demo_students()[1]
    client = MiniClient(mini_app, stubs)
    client.login("alipay", "2088000000009999")
    add_diploma(mini_app, "2017020118")
    assert (
        client.post(
            "/binding", {"name": "李小红", "id_number": id_number, "consent": True}
        ).status_code
        == 202
    )
    client.run_jobs()
    code = [m for m in outbox(mini_app) if m["phone"] == phone][-1]["code"]
    assert client.post("/code/verify", {"code": code}).json["status"] == "bound"
    assert client.post("/certificates", {"days": 60}).status_code == 201
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", mini_app)
    schema.fuzz_client = client  # the token the cases are sent with
    schema.verifier_key = _verifier_key(mini_app)  # what organisations send instead
    return schema


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MODES = ((GenerationMode.POSITIVE, 25), (GenerationMode.NEGATIVE, 10))


@pytest.mark.fuzz
def test_no_server_errors_and_no_answer_outside_the_schema(api_schema):
    """Every operation with valid and with invalid data (schemathesis's pytest plugin does not
    run under pytest 9 yet, so the operations are driven with Hypothesis here)."""
    client = api_schema.fuzz_client
    failures, seen = [], {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode, examples in MODES:

            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                derandomize=True,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                _reset_limits(client)  # limits are tested elsewhere; here they would hide the views
                token = (
                    api_schema.verifier_key
                    if case.operation.path.endswith("/verifications")
                    else client.token
                )
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
                res = case.call_and_validate(checks=CHECKS)
                seen.setdefault(case.operation.label, set()).add(res.status_code)
                if case.method == "DELETE":  # logged out or unbound: start the next case as before
                    _restore(client)

            try:
                check()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                continue
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # every operation's failures, not only the first
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
    shut_out = sorted(label for label, statuses in seen.items() if statuses <= {401, 429})
    assert not shut_out, f"never got past authentication or rate limits: {shut_out}"


def _verifier_key(app) -> str:
    """An organisation's verification key, issued as a director would."""
    from bot.verifiers.rules import issue_key
    from models import utcnow

    with app.extensions["gradcert"].sessions() as db:
        issued = issue_key(
            db, "星辰科技有限公司", "王经理 13800001111", 100000, 30, "boss", utcnow()
        )
        db.commit()
    return issued.plain


def _restore(client) -> None:
    """Log in again and bind again (directly), after a case logged out or unbound."""
    from bot.binding.rules import active_binding, bind
    from models import Account, Student

    if client.get("/session").status_code == 401:
        client.login("alipay", "2088000000009999")
    rt = client.app.extensions["gradcert"]
    with rt.sessions() as db:
        account = db.scalar(select(Account).where(Account.user_key == "2088000000009999"))
        if active_binding(db, account) is None:
            bind(db, account, db.scalar(select(Student).where(Student.student_no == "2017020118")))
            db.commit()


def _reset_limits(client) -> None:
    redis = client.app.extensions["gradcert"].redis
    keys = redis.keys("gc:rl:api:*") + redis.keys("gc:*:rl:api:*")
    if keys:
        redis.delete(*keys)
