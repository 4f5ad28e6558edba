"""The landing page: a newcomer at `/` finds the verification page, the console and the API."""

import re


def test_the_landing_page_links_the_three_doors_and_each_opens(app, client):
    res = client.get("/")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert app.config["GRADCERT_SCHOOL_NAME"] in html
    links = re.findall(r'href="(/[^"]*)"', html)
    assert links == ["/v", "/console/login", "/api/v1/openapi.json"]
    for link in links:
        assert client.get(link).status_code == 200, link
    assert "default-src 'none'" in res.headers["Content-Security-Policy"]
