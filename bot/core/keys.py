"""Every Redis key of gradcert, built here and nowhere else, with what it holds and how long.

Keys of one user share the hash tag `{<channel>:<app id>:<user key>}` (see
`bot.core.messages.user_tag`), so that the engine's multi-key Lua scripts also run on Redis
Cluster. Redis holds only what may expire; no key holds an ID number or a phone number in clear
(phones appear only as their SM3 blind index).
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "gc"


def user(tag: str, *parts: object) -> str:
    """`gc:{tag}:<parts>`: a key of one user (conversation, lock, claims, codes, API state)."""
    return ":".join((PREFIX, tag, *map(str, parts)))


def user_pattern(tag: str, *parts: object) -> str:
    """A SCAN pattern for every key of one user under `parts`."""
    return glob_escape(user(tag, *parts)) + ":*"


# -- one user's conversation (bot.core.state): TTLs in RedisStorage -------------------------------
def state(tag: str) -> str:
    """The versioned conversation (idle TTL, a day while a proxy rests at the menu)."""
    return user(tag, "state")


def lock(tag: str) -> str:
    """The per-user lock: an owner token on a lease of a few seconds, renewed while it is held."""
    return user(tag, "lock")


def active(tag: str) -> str:
    """Set while a conversation is half-filled, to tell the user it expired (7 days)."""
    return user(tag, "active")


def profile(tag: str) -> str:
    """The sender's account id and the masked name of their bound graduate, for the menu without
    SQL (1 hour), with a generation that every change of binding or account bumps (7 days)."""
    return user(tag, "who")


def message(tag: str, msg_id: str) -> str:
    """A delivery claim (a lease of a few seconds, renewed while processed), then the cached
    replies for retries (1 hour)."""
    return user(tag, "msg", msg_id)


def effect(tag: str, msg_id: str, claim: str) -> str:
    """An effect's once-only claim within its message (1 day)."""
    return user(tag, "fx", msg_id, claim)


# -- abuse limits and codes ---------------------------------------------------------------------
def mismatch(tag: str) -> str:
    """Failed identity matches of one account (1 hour window)."""
    return user(tag, "mismatch")


def otp(tag: str, part: str) -> str:
    """One account's code state (hash, tries, cooldown, failures, lock), see bot.platform.otp."""
    return user(tag, "otp", part)


def phone_sent(phone_index: str, window: int, budget: str = "sent") -> str:
    """Codes of one budget (`sent`: the phone's own, `proxy`: proxy requests) sent to one phone
    (blind index) in a window of `window` seconds."""
    return f"{PREFIX}:{{phone:{phone_index}}}:{budget}:{window}"


def phone_notices(phone_index: str) -> str:
    """Ticket notices sent by SMS to one phone (blind index) today: its own daily budget, apart from
    the codes' (bot.appeals.notices; expires after a day)."""
    return f"{PREFIX}:{{phone:{phone_index}}}:notices"


def epoch() -> str:
    """When this Redis' data began (set when found missing, no TTL): an account seen before it
    whose conversation is missing lost it with Redis."""
    return f"{PREFIX}:epoch"


def nonce(channel: str, timestamp: str, nonce_value: str) -> str:
    """A callback's (timestamp, nonce) with the digest of its body (the 300 s window)."""
    return f"{PREFIX}:nonce:{channel}:{timestamp}:{nonce_value}"


def staff_login(username: str, address: str) -> str:
    """Console login attempts of one username from one address (15 minutes; mirrored in SQL)."""
    digest = hashlib.sha256(f"{username}\n{address}".encode()).hexdigest()[:32]
    return f"{PREFIX}:console:login:{digest}"


def staff_login_address(address: str) -> str:
    """Console login attempts from one address, whatever the username (15 minutes; in SQL too)."""
    return f"{PREFIX}:console:login_from:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def console_session(sid: str) -> str:
    """A console session id -> staff id (30 minutes idle)."""
    return f"{PREFIX}:console:sid:{sid}"


def staff_second_factor(staff_id: int) -> str:
    """Wrong second-factor codes of one staff user (15 minutes)."""
    return f"{PREFIX}:console:2fa:fail:{staff_id}"


def staff_totp_used(staff_id: int) -> str:
    """The last TOTP time step a staff user signed in with (2 minutes: no code twice)."""
    return f"{PREFIX}:console:2fa:used:{staff_id}"


def staff_totp_pending(staff_id: int) -> str:
    """A TOTP secret being enrolled, sealed, until the first code confirms it (10 minutes)."""
    return f"{PREFIX}:console:2fa:pending:{staff_id}"


def staff_reset(staff_id: int) -> str:
    """The SHA-256 of a staff user's one-time password-reset token (24 hours)."""
    return f"{PREFIX}:console:reset:{staff_id}"


def anomaly_report_sent(week: str) -> str:
    """Set once the auditors were told about the report of ISO week `week` (8 days)."""
    return f"{PREFIX}:console:anomalies:told:{week}"


def verify_by_address(address: str) -> str:
    """Verification-page lookups of one client address."""
    return f"{PREFIX}:verify:ip:{address}"


def verify_lookups(minute: str) -> str:
    """Verification-page lookups answered in one minute (YYYYmmddHHMM, UTC), by certificate and
    outcome, until the sweep writes them to SQL (bot.diploma.lookups)."""
    return f"{PREFIX}:verify:lookups:{minute}"


def verify_lookup_buckets() -> str:
    """The minutes whose lookups are still to be written."""
    return f"{PREFIX}:verify:lookups"


def verify_generation() -> str:
    """A random token replaced after every commit that changed a certificate or a diploma: a
    worker's remembered answers of the verification page are good only under the token they were
    read at."""
    return f"{PREFIX}:verify:generation"


def signature_verdict(check: str) -> str:
    """Whether a signature verified under a key, by SM3(key id | content | signature) (200 days)."""
    return f"{PREFIX}:sm2:{check}"


def verify_by_prefix(code_prefix: str) -> str:
    """Verification-page lookups of unknown codes sharing a prefix."""
    return f"{PREFIX}:verify:prefix:{code_prefix}"


# -- mini-program API ---------------------------------------------------------------------------
def mini_session(token: str) -> str:
    """A bearer session, under the SHA-256 of its token (sliding expiry, absolute limit)."""
    return f"{PREFIX}:mini:session:" + hashlib.sha256(token.encode()).hexdigest()


def mini_sessions(tag: str) -> str:
    """The set of one user's live session keys (to end them all)."""
    return user(tag, "mini", "sessions")


def api_rate_by_address(name: str, address: str) -> str:
    """Requests to one API action from one client address."""
    return f"{PREFIX}:rl:api:{name}:addr:{address}"


def api_rate_by_user(tag: str, name: str) -> str:
    """Requests to one API action by one user."""
    return user(tag, "rl", "api", name)


def idempotency(tag: str, key: str) -> str:
    """The first answer to an Idempotency-Key of one user (1 day)."""
    return user(tag, "idem", hashlib.sha256(key.encode()).hexdigest()[:32])


def pending_bind(tag: str) -> str:
    """The student a binding through the API waits for a code for (30 minutes)."""
    return user(tag, "api", "pending_bind")


def form_id(tag: str, appeal_id: int) -> str:
    """An Alipay form id that may carry messages about one appeal (7 days, 3 uses)."""
    return user(tag, "formid", appeal_id)


def wechat_token(app_id: str) -> str:
    """An app's access token, shared by every worker (and its refresh lock beside it)."""
    return f"{PREFIX}:wxtoken:{app_id}"


def wechat_token_refresh(app_id: str) -> str:
    """The lock one worker holds while it refreshes an app's access token."""
    return wechat_token(app_id) + ":refresh"


def registrar_sync_lock() -> str:
    """Held (owner token, 1 hour at most) by the one process running a registrar sync pass."""
    return f"{PREFIX}:registrar:sync"


def console_form(token: str) -> str:
    """A console form already sent (its one-time token; 1 day): a reload must not act twice."""
    return f"{PREFIX}:console:form:{token}"


def verifier_quota(key_id: int, day: str) -> str:
    """Lookups of one organisation's API key on one college day (counted atomically; 2 days)."""
    return f"{PREFIX}:verifier:{key_id}:{day}"


def glob_escape(text: str) -> str:
    """`text` matched literally in a Redis SCAN/KEYS pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
