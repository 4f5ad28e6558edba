"""Identity binding: consent, name, ID number, student number, SMS code, bound.

consent     1/同意 to continue (recorded with the notice version), 0 to stop
name        the name alone, or "姓名 身份证号 学号" in one message
id_number   18 characters, GB 11643; each kind of mistake has its own reply
student_no  or 跳过
no_match    1 try again, 2 appeal, 3 other channels (学信网, 川教通), 0 menu (never says which field was wrong)
code        the six digits from the SMS, or 重发
"""

from __future__ import annotations

from enum import auto

from bot import understand as text
from bot.account import menu
from bot.account.menu import Intent
from bot.binding import code_step as sms_code
from bot.binding.refusals import (
    BAD_NAME,
    BAD_STUDENT_NO,
    Refused,
    bad_id_number,
    claim_refused,
    shown,
)
from bot.binding.rules import (
    CONSENT_VERSION,
    ClaimKind,
    active_binding,
    claim_identity,
    complete_binding,
    has_consent,
    record_consent,
)
from bot.core.flow import Context, Outcome
from bot.core.state import Conversation, FlowStep
from bot.platform import idcard
from models import Student

FLOW = "binding"


class BindStep(FlowStep):
    CONSENT = auto()
    NAME = auto()
    ID_NUMBER = auto()
    STUDENT_NO = auto()
    NO_MATCH = auto()
    CODE = auto()


def start(conv: Conversation, ctx: Context) -> Outcome:
    """Entry from the menu: bound already, consent first, or straight to the name."""
    s = ctx.services
    binding = active_binding(s.db, s.account)
    if binding is not None:
        return ctx.reply(conv, "binding/already_bound", **shown(binding.student))
    if _has_consent(ctx):
        return ctx.reply(conv.at(FLOW, BindStep.NAME), "binding/ask_name")
    return ctx.reply(
        conv.at(FLOW, BindStep.CONSENT), "binding/consent", "1", "0", version=CONSENT_VERSION
    )


def handle(conv: Conversation, ctx: Context) -> Outcome:
    """Dispatch to the current step."""
    return STEPS[BindStep(conv.step)](conv, ctx)


def consent(conv: Conversation, ctx: Context) -> Outcome:
    said = ctx.msg.text
    if text.is_yes(said) or text.choice(said, 1) == 1:
        record_consent(ctx.services.db, ctx.services.account)
        ctx.services.audit("consent", detail=f"binding {CONSENT_VERSION}")
        return ctx.reply(conv.at(FLOW, BindStep.NAME), "binding/ask_name")
    if text.is_no(said):
        return menu.show(conv, ctx, prefix="binding/consent_refused")
    return ctx.retry(conv, "binding/consent_again", "1", "0")


def name(conv: Conversation, ctx: Context) -> Outcome:
    if text.is_yes(ctx.msg.text) or text.choice(ctx.msg.text, 1) == 1:  # 同意 twice: no name
        return ctx.reply(conv, "binding/agreed_already")
    if text.is_no(ctx.msg.text):
        return menu.show(conv, ctx, prefix="binding/consent_refused")
    said = text.read_identity(ctx.msg.text)
    if said.name is None and len(said.id_number) >= 6:  # numbers first: kept, or what is wrong
        bad = bad_id_number(said.id_number)
        if bad is not None:
            return ctx.retry(conv, bad.template, **bad.values)
        kept = {"id_sealed": ctx.services.cipher.seal_text(said.id_number)}  # never in clear
        kept["student_no"] = said.student_no
        return ctx.reply(conv.with_data(**kept), "binding/name_missing", **kept)
    if said.name is None:
        return ctx.retry(conv, BAD_NAME.template)
    if not said.id_number and conv.data.get("id_sealed"):  # the numbers came first
        said = text.Identity(
            said.name,
            ctx.services.cipher.open_text(conv.data["id_sealed"]),
            said.student_no or conv.data.get("student_no"),
        )
    conv = conv.at(FLOW, BindStep.ID_NUMBER, name=said.name)
    if not said.id_number:
        return ctx.reply(conv, "binding/ask_id", name=said.name)
    bad = bad_id_number(said.id_number)
    if bad is not None:
        return _id_problem(conv, ctx, bad)
    if said.student_no is None:
        return _ask_student_no(conv, ctx, said.id_number)
    if text.read_student_no(said.student_no) is None:
        return ctx.retry(_at_student_no(conv, ctx, said.id_number), BAD_STUDENT_NO.template)
    return _claim(conv, ctx, said.name, said.id_number, said.student_no)


def id_number(conv: Conversation, ctx: Context) -> Outcome:
    number = text.read_id_number(ctx.msg.text)
    bad = bad_id_number(number)
    if bad is not None:
        return _id_problem(conv, ctx, bad)
    return _ask_student_no(conv, ctx, number)


def student_no(conv: Conversation, ctx: Context) -> Outcome:
    number = None
    if not text.is_skip(ctx.msg.text):
        number = text.read_student_no(ctx.msg.text)
        if number is None:
            return ctx.retry(conv, BAD_STUDENT_NO.template)
        if idcard.is_valid(number):  # the ID number again: not a mismatch, say what we want
            return ctx.retry(conv, "binding/student_no_is_id")
    id_no = ctx.services.cipher.open_text(conv.data["id_sealed"])
    return _claim(conv, ctx, conv.data["name"], id_no, number)


def no_match(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 3)
    if picked == 1:
        return ctx.reply(conv.at(FLOW, BindStep.NAME), "binding/ask_name")
    if picked == 3:
        return ctx.start(conv, ctx, Intent.GUIDE)
    if picked == 2:  # the appeal flow reuses what was typed (the ID number stays sealed)
        return ctx.start(conv, ctx, Intent.APPEAL, carry=conv.data)
    return ctx.retry(conv, "binding/no_match_again", "1", "2", "3", "0")


def code(conv: Conversation, ctx: Context) -> Outcome:
    student = ctx.services.db.get(Student, conv.data["student_id"])
    problem = sms_code.check(conv, ctx, student, "bind")
    return problem if problem is not None else _bound(conv, ctx, student)


STEPS = {
    BindStep.CONSENT: consent,
    BindStep.NAME: name,
    BindStep.ID_NUMBER: id_number,
    BindStep.STUDENT_NO: student_no,
    BindStep.NO_MATCH: no_match,
    BindStep.CODE: code,
}


# -- helpers, in the order the conversation uses them -------------------------------------------
def _has_consent(ctx: Context) -> bool:
    return has_consent(ctx.services.db, ctx.services.account)


def claimed_identity(
    conv: Conversation, ctx: Context, ask: str
) -> tuple[Outcome | None, str, str, str | None]:
    """(retry, name, ID number, student number) from "姓名 身份证号 [学号]" at a step that needs
    both (an appeal without a binding, a proxy naming the graduate): `retry` is the reply when one
    is missing or the ID number is wrong. After a wrong number the name stands, so the corrected
    number alone will do."""
    said = text.read_identity(ctx.msg.text)
    given_name = said.name or conv.data.get("name")
    if given_name is None or not said.id_number:
        return ctx.retry(conv, ask), "", "", None
    bad = bad_id_number(said.id_number)
    if bad is not None:
        return ctx.retry(conv.with_data(name=given_name), bad.template, **bad.values), "", "", None
    return None, given_name, said.id_number, said.student_no


def _id_problem(conv: Conversation, ctx: Context, bad: Refused) -> Outcome:
    conv = conv.at(
        FLOW, BindStep.ID_NUMBER, **{k: v for k, v in conv.data.items() if k != "id_sealed"}
    )
    return ctx.retry(conv, bad.template, **bad.values)


def _at_student_no(conv: Conversation, ctx: Context, number: str) -> Conversation:
    sealed = ctx.services.cipher.seal_text(number)  # never in clear in Redis
    return conv.at(FLOW, BindStep.STUDENT_NO, name=conv.data["name"], id_sealed=sealed)


def _ask_student_no(conv: Conversation, ctx: Context, number: str) -> Outcome:
    return ctx.reply(_at_student_no(conv, ctx, number), "binding/ask_student_no")


def _claim(
    conv: Conversation, ctx: Context, given_name: str, number: str, student_number: str | None
) -> Outcome:
    """The rules' decision on the claimed identity, told: the code is sent only for MATCHED."""
    s = ctx.services
    claim = claim_identity(s, given_name, number, student_number)
    if claim.kind is ClaimKind.MATCHED:
        return sms_code.send(
            conv.at(FLOW, BindStep.CODE, student_id=claim.student.id), ctx, claim.student, "bind"
        )
    refused = claim_refused(claim)
    if claim.kind is ClaimKind.NO_MATCH:
        claimed = {
            "name": given_name,
            "id_sealed": s.cipher.seal_text(number),
            "student_no": student_number,
        }
        return ctx.reply(
            conv.at(FLOW, BindStep.NO_MATCH, **claimed), refused.template, "1", "2", "0"
        )
    return ctx.reply(conv.home(), refused.template, **refused.values)


def _bound(conv: Conversation, ctx: Context, student: Student) -> Outcome:
    bound = complete_binding(ctx.services, student)
    home = conv.home()
    if bound.result.already:
        return ctx.reply(home, "binding/already_same", **shown(student))
    outcome = ctx.reply(home, "binding/bound", name=idcard.mask_name(student.name))
    outcome.effects.extend(bound.effects)
    return outcome
