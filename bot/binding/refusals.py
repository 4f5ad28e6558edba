"""How every binding result other than success is told, one mapping for all surfaces: a stable
code (the API's `error.code`), the reply template under templates/replies that words it, and the
template's values. The chat renders the template as it is; the mini-program API renders the same
file with `surface="api"` (without the chat's "回复1…"), so both say the same sentence.

What is wrong is decided elsewhere: a name or student number by bot.understand, an ID number by
bot.platform.idcard, a claimed identity by bot.binding.rules.claim_identity, a code by
bot.platform.otp."""

from __future__ import annotations

from bot.binding.rules import Claim, ClaimKind, CodeSend
from bot.core.replies import Refused, minutes
from bot.platform import idcard
from bot.platform.otp import Check, Verdict
from models import Student

BAD_NAME = Refused("bad_name", "binding/bad_name")
BAD_STUDENT_NO = Refused("bad_student_no", "binding/bad_student_no")
BAD_CODE = Refused("bad_code_format", "binding/code_format")
_CLAIMS = {
    ClaimKind.TOO_MANY: "binding/too_many_mismatches",
    ClaimKind.NO_MATCH: "binding/no_match",
    ClaimKind.ALREADY_SAME: "binding/already_same",
    ClaimKind.BOUND_TO_OTHER: "binding/account_has_other",
}


def shown(student: Student) -> dict:
    """A student as replies show them: masked name and masked student number."""
    return {
        "name": idcard.mask_name(student.name),
        "student_no": idcard.mask_student_no(student.student_no),
    }


def bad_id_number(number: str) -> Refused | None:
    """What is wrong with a normalised ID number (GB 11643), or None when it is valid."""
    problem = idcard.problem(number)
    if problem is None:
        return None
    values = {"length": len(number), "birth": number[6:14]}
    return Refused("invalid_id_number", f"idcard/{problem.value}", values, problem.value)


def too_many_mismatches(wait: int) -> Refused:
    """The mismatch limit (binding and proxy requests alike), with how long to wait."""
    template = _CLAIMS[ClaimKind.TOO_MANY]
    return Refused(ClaimKind.TOO_MANY.value, template, {"minutes": minutes(wait)})


def claim_refused(claim: Claim) -> Refused:
    """How a claim that did not match (or cannot be bound here) is told."""
    if claim.kind is ClaimKind.TOO_MANY:
        return too_many_mismatches(claim.wait)
    values: dict = {}
    if claim.kind is ClaimKind.ALREADY_SAME:
        values = shown(claim.student)
    elif claim.kind is ClaimKind.BOUND_TO_OTHER:
        values = shown(claim.binding.student)
    return Refused(claim.kind.value, _CLAIMS[claim.kind], values)


def code_not_sent(sent: CodeSend) -> Refused:
    """Why no code was sent: no phone on file, or an SMS limit (with how long to wait)."""
    if sent.phone_masked is None:
        return Refused("no_phone_on_file", "binding/no_phone")
    values = {"seconds": sent.wait, "minutes": minutes(sent.wait)}
    return Refused("code_not_sent", f"otp/{sent.refusal.value}", values, sent.refusal.value)


def code_refused(verdict: Verdict) -> Refused:
    """How a code that did not check out is told (wrong, dead, expired, or sending locked)."""
    if verdict.check is Check.WRONG:
        return Refused("code_wrong", "binding/code_wrong", {"left": verdict.tries_left})
    if verdict.check is Check.LOCKED:
        return Refused("code_locked", "otp/locked_now")
    return Refused(f"code_{verdict.check.value}", f"binding/code_{verdict.check.value}")
