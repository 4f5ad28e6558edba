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

from handlers.current import runtime


def _create_app():
    """The app, or a clear refusal (no traceback) when production settings are missing."""
    from handlers import create_app
    from handlers.config import NotReadyForProduction

    try:
        return create_app()
    except NotReadyForProduction as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None


class GradcertGroup(FlaskGroup):
    """Flask's group, except that `--help` lists our commands without building the app."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return click.Group.list_commands(self, ctx)


@click.group(cls=GradcertGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def cli() -> None:
    """gradcert: diploma records through WeChat and Alipay conversations."""


def _schema_ready() -> None:
    """Development: bring the schema to head (one process at a time). Production: only check that
    it is current, since `gradcert db-upgrade` is the deploy step that migrates."""
    from handlers.config import is_production
    from models.migrate import pending, upgrade

    url = current_app.config["DATABASE_URL"]
    if not is_production(current_app.config):
        upgrade(url)
        return
    current, head = pending(url)
    if current != head:
        click.echo(
            f"the database schema is at revision {current or '(none)'} and this version needs "
            f"{head}: run `gradcert db-upgrade` once (the deploy step), then start again",
            err=True,
        )
        raise SystemExit(2)


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

    _schema_ready()
    for line in seed_demo(runtime(), diplomas=True):
        click.echo(line)


@cli.group("keys")
def keys() -> None:
    """Personal-data encryption keys."""


@keys.command("rotate")
@click.option("--batch", default=200, show_default=True)
def keys_rotate(batch: int) -> None:
    """Re-encrypt every row under the newest key of GRADCERT_PII_KEYS (safe while serving)."""
    from bot.platform.keys import pending, rotate
    from handlers.progress import Progress

    rt = runtime()
    total, todo, progress = 0, pending(rt.sessions, rt.domain.cipher), Progress()
    for total in rotate(rt.sessions, rt.domain.cipher, batch):
        progress("re-encrypting", min(total, todo), todo)
    click.echo(f"done: {total} rows now under key version {rt.domain.cipher.current_version}")


@keys.command("rotate-signing")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="write the new private key here (mode 0600) for the hosts' GRADCERT_SM2_PRIVATE_KEY; "
    "default: instance/secrets.json when the key lives there (development)",
)
def keys_rotate_signing(out: str | None) -> None:
    """Add a new SM2 signing key; certificates signed before keep verifying with the old one."""
    from bot.diploma.keyring import adopt_unmarked, register
    from bot.platform.signing import Sm2Signer, generate_private_key
    from handlers.config import store_instance_secret

    if os.environ.get("GRADCERT_SM2_PRIVATE_KEY") and not out:
        raise click.UsageError(
            "GRADCERT_SM2_PRIVATE_KEY comes from the environment: give --out FILE, then put the "
            "new key into every host's GRADCERT_SM2_PRIVATE_KEY"
        )
    rt = runtime()
    old, private = rt.domain.signer, generate_private_key()
    new = Sm2Signer(private)
    if out:  # written before the keyring knows the key, so that a failure loses nothing
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(private + "\n")
    with rt.sessions() as db:
        marked = adopt_unmarked(db, old)  # certificates from before the keyring name their key
        register(db, new)
        db.commit()
    click.echo(f"kept for verification: {old.fingerprint} ({marked} older certificates marked)")
    click.echo(f"new signing key: {new.fingerprint}")
    if out:
        click.echo(
            f"the private key is in {out}: set it as GRADCERT_SM2_PRIVATE_KEY on every host, "
            "restart them one by one, then delete the file"
        )
    else:
        store_instance_secret(current_app.instance_path, "GRADCERT_SM2_PRIVATE_KEY", private)
        click.echo("stored in instance/secrets.json: restart `gradcert serve` to sign with it")


@cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--dry-run", is_flag=True, help="show what would be added, changed and rejected; write nothing"
)
@click.option("--strict", is_flag=True, help="import nothing if any row is rejected (exit code 1)")
def import_command(path: str, dry_run: bool, strict: bool) -> None:
    """Import the registrar's students and diplomas from a CSV (UTF-8 or GBK) or XLSX file."""
    from bot.platform.registrar import ImportFormatError, import_file
    from handlers.progress import Progress

    rt = runtime()
    _schema_ready()
    try:
        report = import_file(
            rt.sessions,
            rt.domain.cipher,
            path,
            dry_run=dry_run,
            strict=strict,
            progress=Progress(),
        )
    except ImportFormatError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    for line in report.lines():
        click.echo(line)
    if strict and report.rejected:
        raise SystemExit(1)


@cli.command("sync")
@click.option("--full", is_flag=True, help="read every row again (as the 20:00 pass does)")
def sync_command(full: bool) -> None:
    """Pull changed rows from the registrar's database (REGISTRAR_URL, REGISTRAR_QUERY)."""
    from bot.platform.registrar_source import SyncConfigError
    from bot.platform.registrar_sync import SyncKind
    from handlers.jobs import sync_registrar
    from models.migrate import upgrade

    if not current_app.config.get("REGISTRAR_URL"):
        click.echo("error: REGISTRAR_URL is not set", err=True)
        raise SystemExit(2)
    upgrade(current_app.config["DATABASE_URL"])
    try:
        report = sync_registrar(SyncKind.FULL if full else SyncKind.INCREMENTAL)
    except SyncConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except Exception as exc:
        click.echo(
            f"error: the pass stopped ({type(exc).__name__}); it resumes from the last committed batch",
            err=True,
        )
        raise SystemExit(1) from None
    if report is None:
        click.echo("another process is running a sync pass; nothing done", err=True)
        raise SystemExit(1)
    click.echo(report.summary())


def _passphrase(confirm: bool) -> str:
    value = os.environ.get("GRADCERT_BACKUP_PASSPHRASE") or click.prompt(
        "Backup passphrase", hide_input=True, confirmation_prompt=confirm
    )
    if confirm and len(value) < 12:
        raise click.UsageError("the backup passphrase needs at least 12 characters")
    return value


@cli.command("backup")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="archive to write; default gradcert-backup-<UTC time>.tar.gz here",
)
def backup_command(out: str | None) -> None:
    """Back up the database, the attachments and the keys (sealed with a passphrase)."""
    from datetime import UTC, datetime

    from bot.platform.backup import KEY_NAMES, BackupError, backup
    from handlers.progress import Progress

    cfg = current_app.config
    out = out or f"gradcert-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar.gz"
    local = (cfg.get("GRADCERT_ATTACHMENT_STORE") or "").lower() in ("", "local")
    try:
        manifest = backup(
            cfg["DATABASE_URL"],
            {name: cfg[name] for name in KEY_NAMES},
            cfg["GRADCERT_ATTACHMENT_DIR"] if local else None,
            _passphrase(confirm=True),
            out,
            Progress(),
        )
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(
        f"wrote {out}: {manifest['students']} students, {manifest['ledger_entries']} ledger "
        f"entries, {'attachments in S3 (not included)' if not local else str(manifest['attachments']) + ' attachments'}, "
        "keys sealed with the passphrase (keep it apart from the archive)"
    )


def _tell_workers_certificates_changed() -> None:
    """Running workers answer the verification page from what they remember: after a restore
    they read the restored certificates (they are restarted anyway, to take the keys)."""
    from redis.exceptions import RedisError

    from bot.diploma.lookups import certificates_changed

    try:
        certificates_changed(runtime().redis)
    except RedisError:
        click.echo("warning: Redis unreachable; restart every worker before serving", err=True)


@cli.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--keys-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="write the restored keys here as NAME=value lines (mode 0600) for the hosts' "
    "environment; default: instance/secrets.json when the keys live there (development)",
)
@click.option("--yes", is_flag=True, help="replace this installation's database without asking")
def restore_command(archive: str, keys_out: str | None, yes: bool) -> None:
    """Restore a backup over this installation's database and attachments, then verify it."""
    from bot.platform.backup import KEY_NAMES, BackupError, read_keys, restore
    from handlers.config import store_instance_secret
    from handlers.progress import Progress

    cfg = current_app.config
    from_env = [name for name in KEY_NAMES if os.environ.get(name)]
    if from_env and not keys_out:
        raise click.UsageError(
            f"{', '.join(from_env)} come(s) from the environment: give --keys-out FILE and put "
            "its lines into every host's environment"
        )
    passphrase = _passphrase(confirm=False)
    try:
        read_keys(archive, passphrase)  # a wrong passphrase stops here, before anything changes
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    if not yes:
        click.confirm(f"Replace the database at {_shown_url(cfg['DATABASE_URL'])}?", abort=True)
    local = (cfg.get("GRADCERT_ATTACHMENT_STORE") or "").lower() in ("", "local")
    try:
        keys, report = restore(
            archive,
            cfg["DATABASE_URL"],
            cfg["GRADCERT_ATTACHMENT_DIR"] if local else None,
            passphrase,
            Progress(),
        )
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    if keys_out:
        fd = os.open(keys_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{name}={keys[name]}\n" for name in KEY_NAMES)
        click.echo(f"keys written to {keys_out}: set them on every host, then delete the file")
    else:
        for name in KEY_NAMES:
            store_instance_secret(current_app.instance_path, name, keys[name])
        click.echo("keys stored in instance/secrets.json")
    _tell_workers_certificates_changed()
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        click.echo("RESTORE NOT VERIFIED: do not serve from this database", err=True)
        raise SystemExit(1)
    click.echo("restore verified; restart the service (and its workers) to use it")


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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
@click.option("--name", "display_name", default=None, help="the name shown in the console")
@click.option(
    "--role",
    type=click.Choice(["clerk", "director", "auditor"]),
    default="clerk",
    show_default=True,
)
@click.option("--phone", default=None, help="mobile number; required for a director or an auditor")
@click.option(
    "--reset",
    is_flag=True,
    help="an existing user: new password, re-enabled, authenticator cleared (enrolled again at the next sign-in)",
)
def create_staff_command(
    username: str, display_name: str | None, role: str, phone: str | None, reset: bool
) -> None:
    """Create a console user, or with --reset give an existing one a new password; the password is
    prompted twice (or taken from GRADCERT_STAFF_PASSWORD)."""
    from bot.core.accounts import audit
    from bot.platform.staff_accounts import reset_from_cli
    from bot.platform.staff_auth import StaffInputError, create_staff

    rt = runtime()
    _schema_ready()
    if not reset and not display_name:
        click.echo("error: --name is required when creating a user", err=True)
        raise SystemExit(2)
    password = os.environ.get("GRADCERT_STAFF_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    with rt.sessions() as db:
        try:
            if reset:
                user = reset_from_cli(db, rt.domain.cipher, username, password, phone)
            else:
                user = create_staff(
                    db, rt.domain.cipher, username, display_name, role, password, phone
                )
        except StaffInputError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
        audit(
            db,
            None,
            "password_reset" if reset else "staff_create",
            detail=f"{user.username} via cli"
            if reset
            else f"{user.username} role={user.role} via cli",
            actor_staff="cli",
        )
        db.commit()
    if reset:
        click.echo(
            f"reset {user.role} {user.username}: new password set, account enabled, "
            "authenticator cleared; sign in at /console/login"
        )
    else:
        click.echo(
            f"created {role} {user.username} ({user.display_name}); sign in at /console/login"
        )


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
@click.option("--threads", default=8, show_default=True, help="threads per worker")
@click.option("--demo", is_flag=True, help="create the demo students first (idempotent)")
def serve(host: str, port: int, workers: int, threads: int, demo: bool) -> None:
    """Upgrade the database (production: check it is current), then run gunicorn and an RQ worker
    until interrupted."""
    rt = runtime()
    _schema_ready()
    public_url = os.environ.get("GRADCERT_PUBLIC_URL") or local_public_url(host, port)
    if demo:
        from bot.platform.demo import demo_console_login, seed_demo

        for line in seed_demo(rt, diplomas=True) + demo_console_login(rt, public_url):
            click.echo(line)
    env = dict(
        os.environ,
        TZ="Asia/Shanghai",
        GRADCERT_INSTANCE=current_app.instance_path,
        GRADCERT_PUBLIC_URL=public_url,  # links in certificates and QR codes follow --host/--port
    )
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
                # no gunicorn access log: the app logs each request (route, status, request id)
                # without the query string, which names the WeChat user
                "--config",
                "python:handlers.gunicorn_conf",
                "handlers:create_app()",
            ],
            env=env,
        ),
    ]
    click.echo(
        f"gradcert serving on http://{host}:{port} (links: {public_url}; WeChat callback: "
        "/wechat); Ctrl-C stops"
    )
    _supervise(procs)


def local_public_url(host: str, port: int) -> str:
    """The public URL when GRADCERT_PUBLIC_URL is not set: where `serve` listens (a wildcard
    address is shown as this machine's loopback, which a browser here can open)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


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

    from handlers.jobs import upkeep_tick
    from handlers.worker import Worker

    rt = runtime()
    if not burst:
        app = current_app._get_current_object()

        def upkeep() -> None:
            """Each minute, what is due: the sweep every 10 minutes (idempotent: several workers
            are fine) and the registrar sync pass (one process at a time, under a Redis lock)."""
            last_sweep = time.monotonic()
            while True:
                time.sleep(60)
                with app.app_context():
                    last_sweep = upkeep_tick(last_sweep)

        threading.Thread(target=upkeep, daemon=True, name="upkeep").start()
    # with_scheduler: jobs waiting for a retry (handlers.jobs.PUSH_RETRY) are put back on time
    Worker([rt.queue], connection=rt.redis).work(
        burst=burst, logging_level="INFO", with_scheduler=True
    )


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
@click.option("--workers", default=2, show_default=True, help="gunicorn workers for every server")
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
    """Benchmark the WeChat callback against a bare Flask endpoint served the same way, and a
    ceiling (bare plus what the guarantees cost), with wrk."""
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
