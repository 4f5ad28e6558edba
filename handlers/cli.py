"""The `gradcert` command: a Flask CLI group with the operations of the service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import FlaskGroup

from handlers import create_app
from handlers.current import runtime


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False, load_dotenv=False)
def cli() -> None:
    """gradcert: diploma records through WeChat and Alipay conversations."""


@cli.command("db-upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest migration."""
    from models.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


@cli.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo students (idempotent) and print them with their test phones."""
    from bot.platform.demo import seed_demo
    from models.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"])
    for line in seed_demo(runtime(), diplomas=True):
        click.echo(line)


@cli.group("keys")
def keys() -> None:
    """Personal-data encryption keys."""


@keys.command("rotate")
@click.option("--batch", default=200, show_default=True)
def keys_rotate(batch: int) -> None:
    """Re-encrypt every row under the newest key of GRADCERT_PII_KEYS (safe while serving)."""
    from bot.platform.keys import rotate

    rt = runtime()
    total = 0
    for total in rotate(rt.sessions, rt.domain.cipher, batch):
        click.echo(f"re-encrypted {total} students")
    click.echo(f"done: {total} rows now under key version {rt.domain.cipher.current_version}")


@cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--dry-run", is_flag=True, help="show what would be added, changed and rejected; write nothing"
)
@click.option("--strict", is_flag=True, help="import nothing if any row is rejected (exit code 1)")
def import_command(path: str, dry_run: bool, strict: bool) -> None:
    """Import the registrar's students and diplomas from a CSV (UTF-8 or GBK) or XLSX file."""
    from bot.platform.registrar import ImportFormatError, import_file
    from models.migrate import upgrade

    rt = runtime()
    upgrade(current_app.config["DATABASE_URL"])
    try:
        report = import_file(rt.sessions, rt.domain.cipher, path, dry_run=dry_run, strict=strict)
    except ImportFormatError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    for line in report.lines():
        click.echo(line)
    if strict and report.rejected:
        raise SystemExit(1)


@cli.command("verify-file")
@click.argument("pdf", type=click.File("rb"))
@click.option(
    "--public-key",
    default=None,
    help="the school's SM2 public key (128 hex); default: this installation's",
)
def verify_file(pdf, public_key: str | None) -> None:
    """Check a downloaded certificate PDF offline against the school's public key."""
    import json

    from bot.diploma.pdf import embedded
    from bot.platform.crypto import sm3
    from bot.platform.signing import Sm2Signer

    signer = Sm2Signer(None, public_key) if public_key else runtime().domain.signer
    carried = embedded(pdf.read())
    if carried is None:
        click.echo("NOT VERIFIED: no gradcert signature found in this file")
        raise SystemExit(1)
    content = json.loads(carried["content"])
    if not signer.verify(carried["content"].encode(), carried["signature"]):
        click.echo(f"NOT VERIFIED: the signature does not match (code {content.get('code')})")
        raise SystemExit(1)
    click.echo(f"VERIFIED: signed by the key with fingerprint {signer.fingerprint}")
    click.echo(
        f"code {content['code']}, {content['name']}, {content['level']} {content['major']}, "
        f"valid until {content['valid_until']}; SM3 {sm3(carried['content'].encode()).hex()}"
    )
    click.echo(
        "Check the current status (closed or revoked?) on the verification page or its QR code."
    )


@cli.group("ledger")
def ledger_group() -> None:
    """The certificate ledger."""


@ledger_group.command("verify")
@click.option(
    "--head",
    "published",
    default=None,
    metavar="SEQ:HASH",
    help="a head printed by `ledger export` earlier (and published): it must still be there",
)
def ledger_verify(published: str | None) -> None:
    """Walk the chain and report the first broken entry."""
    from sqlalchemy import func, select

    from bot.diploma import certificates, ledger
    from models import LedgerEntry

    head = None
    if published:
        seq, _, digest = published.partition(":")
        if not seq.isascii() or not seq.isdigit() or len(digest) != 64:
            raise click.BadParameter(
                "expected SEQ:HASH, as `ledger export` prints (seq=N head=HASH)"
            )
        head = (int(seq), digest.lower())
    with runtime().sessions() as db:
        broken = ledger.verify(db, certificates.checked_digest, head)
        count = db.scalar(select(func.count()).select_from(LedgerEntry))
    if broken:
        click.echo(f"BROKEN at entry {broken.seq}: {broken.reason}")
        raise SystemExit(1)
    click.echo(f"ledger intact: {count} entries")


@ledger_group.command("export")
@click.option("--day", default=None, help="YYYY-MM-DD (UTC); default: today")
def ledger_export(day: str | None) -> None:
    """Print the day's head hash, for publishing elsewhere."""
    from datetime import date

    from bot.diploma import ledger

    wanted = date.fromisoformat(day) if day else None
    with runtime().sessions() as db:
        entry = ledger.head(db, wanted)
    if entry is None:
        click.echo("ledger is empty")
        return
    click.echo(f"{(wanted or date.today()).isoformat()} seq={entry.seq} head={entry.entry_hash}")


@cli.command("create-staff")
@click.option("--username", required=True, help="login name (lower case letters, digits, . _ -)")
@click.option("--name", "display_name", required=True, help="the name shown in the console")
@click.option(
    "--role", type=click.Choice(["clerk", "director"]), default="clerk", show_default=True
)
@click.option("--phone", default=None, help="mobile number; required for a director (export codes)")
def create_staff_command(username: str, display_name: str, role: str, phone: str | None) -> None:
    """Create a console user; the password is prompted twice (or taken from GRADCERT_STAFF_PASSWORD)."""
    from bot.core.accounts import audit
    from bot.platform.staff_auth import StaffInputError, create_staff
    from models.migrate import upgrade

    rt = runtime()
    upgrade(current_app.config["DATABASE_URL"])
    password = os.environ.get("GRADCERT_STAFF_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    with rt.sessions() as db:
        try:
            user = create_staff(db, rt.domain.cipher, username, display_name, role, password, phone)
        except StaffInputError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
        audit(
            db,
            None,
            "staff_create",
            detail=f"{user.username} role={user.role} via cli",
            actor_staff="cli",
        )
        db.commit()
    click.echo(f"created {role} {user.username} ({user.display_name}); sign in at /console/login")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
@click.option("--threads", default=8, show_default=True, help="threads per worker")
@click.option("--demo", is_flag=True, help="create the demo students first (idempotent)")
def serve(host: str, port: int, workers: int, threads: int, demo: bool) -> None:
    """Upgrade the database, then run gunicorn and an RQ worker until interrupted."""
    from models.migrate import upgrade

    rt = runtime()
    upgrade(current_app.config["DATABASE_URL"])
    if demo:
        from bot.platform.demo import seed_demo

        for line in seed_demo(rt, diplomas=True):
            click.echo(line)
    env = dict(os.environ, TZ="Asia/Shanghai", GRADCERT_INSTANCE=current_app.instance_path)
    if not current_app.config.get("REDIS_URL"):
        env["REDIS_URL"] = f"unix://{rt.redis.socket_file}"  # the embedded server this process owns
    procs = [
        subprocess.Popen([sys.executable, "-m", "handlers.cli", "worker"], env=env),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--timeout",
                "60",
                "--access-logfile",
                "-",
                "handlers:create_app()",
            ],
            env=env,
        ),
    ]
    click.echo(f"gradcert serving on http://{host}:{port} (WeChat callback: /wechat); Ctrl-C stops")
    _supervise(procs)


def _supervise(procs: list[subprocess.Popen]) -> None:
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(p.poll() is None for p in procs):
        time.sleep(0.5)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


@cli.command("worker")
@click.option("--burst", is_flag=True, help="run the queued jobs, then exit")
def worker(burst: bool) -> None:
    """Run the RQ worker for slow effects (SMS, PDFs, pushes)."""
    import threading

    from rq import SimpleWorker

    from handlers.jobs import sweep

    rt = runtime()
    if not burst:
        app = current_app._get_current_object()

        def upkeep() -> None:  # every 10 minutes; the sweep is idempotent, several workers are fine
            while True:
                time.sleep(600)
                try:
                    with app.app_context():
                        sweep()
                except Exception:
                    app.logger.exception("upkeep failed")

        threading.Thread(target=upkeep, daemon=True, name="upkeep").start()
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=burst, logging_level="INFO")


@cli.command("chat")
@click.option(
    "--url", default=None, help="a running server, e.g. http://127.0.0.1:8000; default: in-process"
)
@click.option("--user", default="chat-user", show_default=True, help="the simulated openid")
@click.option(
    "--script", type=click.File("r", encoding="utf-8"), default=None, help="one message per line"
)
def chat(url: str | None, user: str, script) -> None:
    """Talk to the bot through the real (signed, encrypted when configured) WeChat callback path."""
    from handlers.tools.chat import run_chat

    run_chat(current_app, url, user, script)


@cli.command("bench")
@click.option("--seconds", default=5.0, show_default=True, help="length of each round")
@click.option("--rounds", default=3, show_default=True, help="alternating rounds per server")
@click.option("--workers", default=2, show_default=True, help="gunicorn workers for both servers")
@click.option("--threads", default=4, show_default=True, help="threads per gthread worker")
@click.option("--worker-class", default="gthread", show_default=True)
@click.option(
    "--scenario", "scenarios", multiple=True, help="run only these (menu, first, diploma, ...)"
)
@click.option("--redis-url", default=None, help="use this Redis instead of an embedded one")
@click.option("--database-url", default=None, help="an empty database of its own (default SQLite)")
def bench(
    seconds: float,
    rounds: int,
    workers: int,
    threads: int,
    worker_class: str,
    scenarios: tuple[str, ...],
    redis_url: str | None,
    database_url: str | None,
) -> None:
    """Benchmark the WeChat callback against a bare Flask endpoint served the same way (wrk)."""
    from handlers.tools.bench import run_bench

    run_bench(
        seconds=seconds,
        rounds=rounds,
        workers=workers,
        threads=threads,
        worker_class=worker_class,
        scenarios=scenarios,
        redis_url=redis_url,
        database_url=database_url,
        echo=click.echo,
    )


if __name__ == "__main__":
    cli()
