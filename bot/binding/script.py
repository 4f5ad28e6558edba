"""Identity binding: consent, name, ID number, student number, SMS code, bound.

    consent     1/同意 to continue (recorded with the notice version), 0 to stop
    name        the name alone, or "姓名 身份证号 学号" in one message
    id_number   18 characters, GB 11643; each kind of mistake has its own reply
    student_no  or 跳过
    no_match    1 try again, 2 appeal, 0 menu (never says which field was wrong)
    code        the six digits from the SMS, or 重发
"""

from __future__ import annotations

import re
from enum import auto

from bot import understand as text
from bot.account import menu
from bot.account.menu import Intent
from bot.binding import code_step as sms_code
from bot.binding.rules import (
    CONSENT_VERSION,
    active_binding,
    complete_binding,
    has_consent,
    match_identity,
    record_consent,
)
from bot.core.flow import Context, Outcome
from bot.core.state import Conversation, FlowStep
from bot.platform import idcard
from models import Student

FLOW = "binding"
SKIP_WORDS = {"跳过", "不记得", "忘了", "忘记了", "没有", "不知道"}
_NAME = re.compile(r"^[\u3400-\u9fffA-Za-z·]{2,30}$")
_NAME_PREFIX = re.compile(r"^(我叫|我是|姓名是|姓名|名字是|名字)[:：]?")


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
        return ctx.reply(conv, "binding/already_bound", **_who(binding.student))
    if _has_consent(ctx):
        return ctx.reply(conv.at(FLOW, BindStep.NAME), "binding/ask_name")
    return ctx.reply(conv.at(FLOW, BindStep.CONSENT), "binding/consent", "1", "0", version=CONSENT_VERSION)


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
    given_name, rest = _split_name(ctx.msg.text)
    if given_name is None:
        return ctx.retry(conv, "binding/bad_name")
    if not rest:
        return ctx.reply(conv.at(FLOW, BindStep.ID_NUMBER, name=given_name), "binding/ask_id", name=given_name)
    number, student_no = _split_numbers(rest)
    conv = conv.at(FLOW, BindStep.ID_NUMBER, name=given_name)
    problem = idcard.problem(number)
    if problem is not None:
        return _id_problem(conv, ctx, number, problem)
    if student_no:
        return _match(conv, ctx, given_name, number, student_no)
    return _ask_student_no(conv, ctx, number)


def id_number(conv: Conversation, ctx: Context) -> Outcome:
    number = idcard.normalise(ctx.msg.text)
    problem = idcard.problem(number)
    if problem is not None:
        return _id_problem(conv, ctx, number, problem)
    return _ask_student_no(conv, ctx, number)


def student_no(conv: Conversation, ctx: Context) -> Outcome:
    said = text.clean(ctx.msg.text)
    number = None if said in SKIP_WORDS else text.number_token(said)
    if number is not None and not re.fullmatch(r"[0-9A-Z]{4,20}", number):
        return ctx.retry(conv, "binding/bad_student_no")
    id_no = ctx.services.cipher.open_text(conv.data["id_sealed"])
    return _match(conv, ctx, conv.data["name"], id_no, number)


def no_match(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 2)
    if picked == 1:
        return ctx.reply(conv.at(FLOW, BindStep.NAME), "binding/ask_name")
    if picked == 2:  # the appeal flow reuses what was typed (the ID number stays sealed)
        return ctx.start(conv, ctx, Intent.APPEAL, carry=conv.data)
    return ctx.retry(conv, "binding/no_match_again", "1", "2", "0")


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


def parse_identity(said: str) -> tuple[str | None, str, str | None]:
    """(name, normalised ID number, student number) from "姓名 身份证号 [学号]" in one message."""
    given_name, rest = _split_name(said)
    if given_name is None or not rest:
        return given_name, "", None
    number, student_number = _split_numbers(rest)
    return given_name, number, student_number


def read_identity(conv: Conversation, ctx: Context, ask: str) -> tuple[Outcome | None, str, str, str | None]:
    """(retry, name, ID number, student number) from "姓名 身份证号 [学号]" at a step that needs
    both (an appeal without a binding, a proxy naming the graduate): `retry` is the reply when one
    is missing or the ID number is wrong. After a wrong number the name stands, so the corrected
    number alone will do."""
    given_name, number, student_number = parse_identity(ctx.msg.text)
    if given_name is None and conv.data.get("name"):
        given_name = conv.data["name"]
        number, student_number = _split_numbers(text.clean(ctx.msg.text))
    if given_name is None or not number:
        return ctx.retry(conv, ask), "", "", None
    problem = idcard.problem(number)
    if problem is not None:
        retry = ctx.retry(conv.with_data(name=given_name), f"idcard/{problem.value}", length=len(number),
                          birth=number[6:14])
        return retry, "", "", None
    return None, given_name, number, student_number


def _split_name(said: str) -> tuple[str | None, str]:
    """The name at the start of a message, and whatever follows it."""
    cleaned = _NAME_PREFIX.sub("", text.clean(said))
    m = re.match(r"^([\u3400-\u9fff·•・.]+|[A-Za-z·.]+(?:\s+[A-Za-z]+)*)(.*)$", cleaned, re.S)
    if not m:
        return None, ""
    candidate, rest = m.group(1).replace("•", "·").replace("・", "·"), m.group(2)
    if rest and not re.search(r"[0-9０-９X叉幺一二两三四五六七八九零]", rest, re.I):
        return None, ""
    if not _NAME.fullmatch(candidate):
        return None, ""
    return candidate, rest.strip()


def _split_numbers(rest: str) -> tuple[str, str | None]:
    """(ID number, student number) from what followed the name; the ID is found even with spaces."""
    tokens = [text.number_token(w) for w in text.words(rest)]
    tokens = [t for t in tokens if t]
    for i in range(len(tokens)):
        for j in range(i + 1, len(tokens) + 1):
            candidate = "".join(tokens[i:j])
            if len(candidate) == 18 and idcard.is_valid(candidate):
                remaining = tokens[:i] + tokens[j:]
                return candidate, "".join(remaining) or None
            if len(candidate) > 18:
                break
    if len(tokens) >= 2:
        return tokens[0], "".join(tokens[1:])
    return (tokens[0] if tokens else ""), None


def _id_problem(conv: Conversation, ctx: Context, number: str, problem: idcard.IdProblem) -> Outcome:
    conv = conv.at(FLOW, BindStep.ID_NUMBER, **{k: v for k, v in conv.data.items() if k != "id_sealed"})
    return ctx.retry(conv, f"idcard/{problem.value}", length=len(number), birth=number[6:14])


def _ask_student_no(conv: Conversation, ctx: Context, number: str) -> Outcome:
    sealed = ctx.services.cipher.seal_text(number)  # never in clear in Redis
    return ctx.reply(conv.at(FLOW, BindStep.STUDENT_NO, name=conv.data["name"], id_sealed=sealed), "binding/ask_student_no")


def _match(conv: Conversation, ctx: Context, given_name: str, number: str, student_number: str | None) -> Outcome:
    s = ctx.services
    found = match_identity(s, given_name, number, student_number)
    if found.wait:
        return _too_many(conv, ctx, found.wait)
    student = found.student
    if student is None:
        claimed = {"name": given_name, "id_sealed": s.cipher.seal_text(number), "student_no": student_number}
        return ctx.reply(conv.at(FLOW, BindStep.NO_MATCH, **claimed), "binding/no_match", "1", "2", "0")
    current = active_binding(s.db, s.account)
    if current is not None and current.student_id == student.id:
        return ctx.reply(conv.home(), "binding/already_same", **_who(student))
    if current is not None:
        return ctx.reply(conv.home(), "binding/account_has_other", **_who(current.student))
    return sms_code.send(conv.at(FLOW, BindStep.CODE, student_id=student.id), ctx, student, "bind")


def _too_many(conv: Conversation, ctx: Context, wait: int) -> Outcome:
    home = conv.home()
    return ctx.reply(home, "binding/too_many_mismatches", minutes=max(1, (wait + 59) // 60))


def _bound(conv: Conversation, ctx: Context, student: Student) -> Outcome:
    bound = complete_binding(ctx.services, student)
    home = conv.home()
    if bound.result.already:
        return ctx.reply(home, "binding/already_same", **_who(student))
    outcome = ctx.reply(home, "binding/bound", name=idcard.mask_name(student.name))
    outcome.effects.extend(bound.effects)
    return outcome


def _who(student: Student) -> dict:
    return {"name": idcard.mask_name(student.name), "student_no": _mask_student_no(student.student_no)}


def _mask_student_no(number: str) -> str:
    return number[:4] + "*" * max(0, len(number) - 6) + number[-2:] if len(number) > 6 else number


