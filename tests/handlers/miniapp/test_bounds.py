"""API bodies are held to the OpenAPI document (issue 12): a value of the wrong type or an unknown
field is a 422 naming it; an upload to someone else's request is a 404 before its content is read."""

from __future__ import annotations

import io

import pytest

from tests.handlers.miniapp.test_proxies import _upload, graduate, parent  # noqa: F401
from tests.miniapp_support import MiniClient
from tests.stubs import PNG_BYTES


@pytest.mark.parametrize(
    "body, field",
    [
        ({"days": "30"}, "days"),
        ({"days": 30.5}, "days"),
        ({"days": True}, "days"),
        ({"days": 30, "valid_until": "2099-01-01"}, "valid_until"),
    ],
)
def test_api_bodies_of_the_wrong_type_or_with_unknown_fields_are_422(mini, mini_demo, body, field):
    mini.login("wxa", "o-types")
    res = mini.post("/certificates", body)
    assert res.status_code == 422 and res.json["error"]["code"] == "schema_violation"
    assert field in res.json["error"]["message"]


def test_someone_elses_request_is_a_404_whatever_the_upload_holds(parent, mini_app, stubs):  # noqa: F811
    proxy_id = parent.get("/proxies").json["request"]["id"]
    stranger = MiniClient(mini_app, stubs)
    stranger.login("wxa", "o-stranger")
    res = stranger.post(
        f"/proxies/{proxy_id}/document",
        data={"notarised_no": "abc", "photos": [(io.BytesIO(b"GIF89a no"), "x.gif")]},
    )
    assert res.status_code == 404 and res.json["error"]["code"] == "proxy_not_found"
    res = stranger.post(f"/proxies/{proxy_id}/document", data={"notarised_no": "abc"})
    assert res.status_code == 404
    assert _upload(parent, proxy_id, photos=(PNG_BYTES,)).status_code == 200  # the owner's works
