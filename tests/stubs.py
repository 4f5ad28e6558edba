"""Local HTTP stubs of services outside this machine (WeChat API, SMS providers).

Each stub records the requests it receives so that tests check what we sent, and answers like the
real service. Handlers are plain functions: (method, path, query, headers, body) -> (status, json).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class HttpStub:
    """A threaded HTTP server on 127.0.0.1 with a route table and a request log."""

    routes: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)

    def start(self) -> HttpStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(
                    self.command,
                    parts.path,
                    {k: v[0] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                stub.requests.append(rec)
                route = stub.routes.get(parts.path)
                status, payload = route(rec) if route else (404, {"error": "no route"})
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type",
                    "image/png" if isinstance(payload, bytes) else "application/json",
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


def wechat_api_stub(app_id: str, secret: str) -> HttpStub:
    """The Official Account API: stable_token and customer-service messages, checking credentials."""
    stub = HttpStub()
    token = "stub-access-token"

    def stable_token(rec):
        data = rec.json()
        if data.get("appid") != app_id or data.get("secret") != secret:
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}
        return 200, {"access_token": token, "expires_in": 7200}

    def custom_send(rec):
        if rec.query.get("access_token") != token:
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    stub.routes["/cgi-bin/stable_token"] = stable_token
    stub.routes["/cgi-bin/message/custom/send"] = custom_send
    return stub.start()


PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def add_media(stub: HttpStub, files: dict[str, bytes]) -> None:
    """Serve WeChat temporary media (cgi-bin/media/get) from `files`; unknown ids get errcode 40007."""

    def media_get(rec):
        if rec.query.get("access_token") != "stub-access-token":
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}
        data = files.get(rec.query.get("media_id", ""))
        if data is None:
            return 200, {"errcode": 40007, "errmsg": "invalid media_id"}
        return 200, data

    stub.routes["/cgi-bin/media/get"] = media_get
