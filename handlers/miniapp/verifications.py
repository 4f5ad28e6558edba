"""`POST /api/v1/verifications`: an organisation (employer, school abroad) checks a certificate
code with the API key a director issued to it (Bearer). The answer is the public page's facts, plus
whether the holder's name it gave matches; each lookup counts against the key's daily quota, is
audited and is told to the holder (bot.verifiers.rules)."""

from __future__ import annotations

import unicodedata

from flask import Blueprint, jsonify, request

from bot.diploma import certificates
from bot.diploma.verification import FIELDS
from bot.platform.workdays import local
from bot.verifiers import rules
from handlers.current import runtime
from handlers.miniapp.errors import ApiError, bad_request, json_body
from handlers.miniapp.guard import limited

bp = Blueprint("verifications", __name__)
REFUSALS = {
    rules.KeyRefusal.UNKNOWN: "查验密钥无效。请使用学校发给贵单位的密钥。",
    rules.KeyRefusal.REVOKED: "查验密钥已被学校停用。请联系学校学籍科重新申请。",
    rules.KeyRefusal.EXPIRED: "查验密钥已过期。请联系学校学籍科续期。",
}


@bp.post("/verifications")
@limited("verifications", per_address=(120, 60))
def verify():
    """Check one code (and optionally the holder's name) for the organisation of the key."""
    rt = runtime()
    presented = _bearer()
    body = json_body()
    code, name = body.get("code"), body.get("name")
    if not isinstance(code, str) or not code.strip() or len(code) > 64:
        raise bad_request("请提供证明编号 code（16 位字母数字）。", "bad_code")
    if name is not None and (not isinstance(name, str) or len(name) > 64):
        raise bad_request("name 应为不超过 64 个字的姓名。", "bad_name")
    code = certificates.normalise_code(unicodedata.normalize("NFKC", code))[:64]
    with rt.unit() as s:
        now = s.now()
        key, refusal = rules.key_for(s.db, presented, now)
    if refusal is not None:
        raise ApiError(401, f"key_{refusal.value}", REFUSALS[refusal])
    if wait := rules.take_quota(rt.redis, key, now):
        raise ApiError(
            429, "quota_spent", "今日查验次数已用完，次日零点（北京时间）恢复。", retry_after=wait
        )
    with rt.unit() as s:
        answer = rules.verify(s, key, code, name)
    facts = answer.facts
    fields = facts.fields or {}
    body = {
        "code": code,
        "status": facts.state,
        "genuine": facts.genuine,
        "name_matched": answer.name_matched,
        **{field: fields.get(field) for field in FIELDS},
        "checked_at": local(now).isoformat(timespec="seconds"),
        "verify_url_path": f"/v/{code}",
    }
    return jsonify(body), 404 if facts.state == "unknown" else 200


def _bearer() -> str:
    """The key of `Authorization: Bearer <key>`, or a 401."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            401, "key_missing", "请在 Authorization: Bearer 中提供学校发给贵单位的查验密钥。"
        )
    return value.strip()
