"""The deploy kit's nginx site (deploy/nginx/gradcert.conf), with a throw-away certificate, on
free ports, in front of gunicorn: a signed WeChat callback through TLS gets its reply, plain
HTTP is sent to HTTPS, the request id travels, and the address the rate limits count is the
client's real one even when the client forges X-Forwarded-For."""

from __future__ import annotations

import datetime
import ipaddress
import os

import redis as redis_lib
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from bot.core import keys
from handlers.tools.wechat_sim import WeChatSimulator
from tests.conftest import APP_ID, TOKEN
from tests.system.conftest import free_port, require
from tests.system.spawn import PYTHON, ROOT, Spawned, gradcert_env, wait_port

HOST = "verify.example.edu.cn"
FORGED = "203.0.113.9"


def _self_signed(folder) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def render_site(folder, web_port: int, http_port: int, https_port: int) -> str:
    """The kit's site with the test's ports and certificate: the substitutions an IT office makes
    (host name and certificate paths), plus loopback ports instead of 80/443."""
    cert, key = _self_signed(folder)
    site = (ROOT / "deploy" / "nginx" / "gradcert.conf").read_text()
    for old, new in {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{web_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:80;": "",
        "listen [::]:443 ssl http2;": "",
        f"/etc/letsencrypt/live/{HOST}/fullchain.pem": cert,
        f"/etc/letsencrypt/live/{HOST}/privkey.pem": key,
        "/var/log/nginx/gradcert.access.log": f"{folder}/gradcert.access.log",
    }.items():
        assert old in site, old
        site = site.replace(old, new)
    (folder / "gradcert.conf").write_text(site)
    temp = "\n".join(
        f"  {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        + "events { worker_connections 64; }\n"
        + f"http {{\n  access_log {folder}/access.log;\n{temp}\n  include {folder}/gradcert.conf;\n}}\n"
    )
    return cert


def test_wechat_through_the_kits_nginx(redis_url, database_url, tmp_path):
    found = require("nginx")
    web, http, https = free_port(), free_port(), free_port()
    (tmp_path / "nginx").mkdir()
    cert = render_site(tmp_path / "nginx", web, http, https)
    env = gradcert_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        WECHAT_TOKEN=TOKEN,
        WECHAT_APP_ID=APP_ID,
        TRUST_PROXY="1",
        GRADCERT_PUBLIC_URL=f"https://{HOST}",
        GRADCERT_INSTANCE=str(tmp_path / "instance"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    (tmp_path / "metrics").mkdir()
    redis_lib.Redis.from_url(redis_url).flushdb()
    with Spawned(tmp_path) as procs:
        gunicorn = procs.start(
            "gunicorn",
            [PYTHON, "-m", "gunicorn", "--config", "python:handlers.gunicorn_conf",
             "--bind", f"127.0.0.1:{web}", "--workers", "2",
             "--worker-class", "gthread", "--threads", "4", "handlers:create_app()"],
            env=env,
        )  # fmt: skip
        nginx_dir = tmp_path / "nginx"
        nginx = procs.start(
            "nginx",
            [found["nginx"], "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf"),
             "-e", str(nginx_dir / "error.log"), "-g", "daemon off;"],
        )  # fmt: skip
        wait_port(https, nginx, timeout=15)
        wait_port(web, gunicorn, timeout=60)

        # plain HTTP goes to HTTPS
        res = requests.get(f"http://127.0.0.1:{http}/healthz", allow_redirects=False, timeout=5)
        assert res.status_code == 301 and res.headers["Location"].startswith("https://")

        sim = WeChatSimulator(TOKEN, APP_ID)
        query, body = sim.text("u-nginx", "0")
        res = requests.post(
            f"https://127.0.0.1:{https}/wechat",
            params=query,
            data=body,
            headers={"X-Forwarded-For": FORGED, "X-Request-ID": "req-nginx-0001"},
            verify=cert,
            timeout=10,
        )
        assert res.status_code == 200, procs.log("gunicorn")
        assert "1 绑定身份" in sim.reply_text(res.content)
        assert res.headers["X-Request-ID"] == "req-nginx-0001"

        # the verification page counts lookups per client address: the real one, not the forged
        res = requests.get(
            f"https://127.0.0.1:{https}/v/ZZZZ-ZZZZ-ZZZZ",
            headers={"X-Forwarded-For": FORGED, "Host": HOST},
            verify=cert,
            timeout=10,
        )
        assert res.status_code in (200, 404), res.status_code
        seen = redis_lib.Redis.from_url(redis_url)
        assert seen.get(keys.verify_by_address("127.0.0.1")) == b"1"
        assert not list(seen.scan_iter(match=f"*{FORGED}*"))

        # nginx's line of each request: its request id, never the openid, a query or a code
        logged = (tmp_path / "nginx" / "gradcert.access.log").read_text()
        assert '"POST /wechat" 200' in logged and "req-nginx-0001" in logged
        assert '"GET /v/<code>"' in logged
        for secret in ("u-nginx", "signature", "ZZZZ", "?"):
            assert secret not in logged, secret

        # /metrics of both gunicorn workers added up (multiprocess mode, as the units run it)
        res = requests.get(f"https://127.0.0.1:{https}/metrics", verify=cert, timeout=10)
        assert res.status_code == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(res.text)
            for s in family.samples
        }
        assert (
            samples[("gradcert_http_requests_total", (("route", "/wechat"), ("status", "200")))]
            == 1
        )
        assert ("gradcert_queue_jobs", (("state", "failed"),)) in samples
