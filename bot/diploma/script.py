"""Diploma lookup and electronic certificates.

(code)      a fresh SMS code when the last check is older than 10 minutes
menu        the record; 1 new e-certificate, 2 my e-certificates
days        validity of a new certificate, 30-180 days
list        pick one of my certificates
manage      1 link again, 2 extend, 3 close
extend      new validity, 30-180 days from today
close       confirm closing (verification then says "closed by its holder")
"""

from __future__ import annotations

import secrets
from enum import auto

from sqlalchemy import select

from bot import understand as text
from bot.account import menu
from bot.binding import code_step as sms_code
from bot.binding import reconfirm
from bot.binding.rules import active_binding
from bot.core.flow import Context, Outcome
from bot.core.messages import Reply
from bot.core.state import Conversation, FlowStep
from bot.diploma import certificates
from bot.diploma import rules as diplomas
from bot.diploma.rules import RecordState
from bot.platform import idcard
from bot.platform.workdays import local, today_in_china
from bot.proxies import script as proxy
from models import Certificate, Proxy, Scope, Student

FLOW = "diploma"


class DiplomaStep(FlowStep):
    CODE = auto()
    MENU = auto()
    DAYS = auto()
    LIST = auto()
    MANAGE = auto()
    EXTEND = auto()
    CLOSE = auto()


def start(conv: Conversation, ctx: Context) -> Outcome:
    """Entry from the menu: bound? code fresh? then the record. A proxy sees the graduate's."""
    s = ctx.services
    if conv.acting_for is not None:
        acting = proxy.acting_proxy(conv, ctx, Scope.LOOKUP)
        if acting is None:
            return ctx.reply(conv, "proxy/out_of_scope")
        return show(conv, ctx, acting.student, acting)
    binding = active_binding(s.db, s.account)
    if binding is None:
        return ctx.reply(conv, "diploma/not_bound", "1", "0")
    if not diplomas.code_is_fresh(binding, s.now()):
        yearly = reconfirm.is_due(binding, s.now(), s.config)
        told = "binding/reconfirm_code_sent" if yearly else "diploma/code_sent"
        return sms_code.send(conv.at(FLOW, DiplomaStep.CODE), ctx, binding.student, "lookup", told)
    return show(conv, ctx, binding.student)


def handle(conv: Conversation, ctx: Context) -> Outcome:
    """Dispatch to the current step, once the account may still see this student's record: its own
    binding (it may have been taken over since) or an active proxy of the right scope."""
    step = DiplomaStep(conv.step)
    if step is not DiplomaStep.CODE and not _still_allowed(conv, ctx):
        return menu.show(conv, ctx, prefix="diploma/no_longer_allowed")
    if step in CERTIFICATE_STEPS and conv.acting_for is not None and _acting(conv, ctx) is None:
        return menu.show(conv, ctx, prefix="proxy/out_of_scope")  # the scope changed mid-way
    return STEPS[step](conv, ctx)


def _still_allowed(conv: Conversation, ctx: Context) -> bool:
    student_id = conv.data.get("student_id")
    if conv.acting_for is not None:
        return (
            student_id == conv.acting_for
            and proxy.acting_proxy(conv, ctx, Scope.LOOKUP) is not None
        )
    binding = active_binding(ctx.services.db, ctx.services.account)
    return binding is not None and binding.student_id == student_id


def code(conv: Conversation, ctx: Context) -> Outcome:
    s = ctx.services
    binding = active_binding(s.db, s.account)
    if binding is None:
        return menu.show(conv, ctx)
    problem = sms_code.check(conv, ctx, binding.student, "lookup")
    if problem is not None:
        return problem
    binding.verified_at = s.now()
    return show(conv, ctx, binding.student)


def show(
    conv: Conversation, ctx: Context, student: Student, acting: Proxy | None = None
) -> Outcome:
    """The diploma record, or when it will appear, or why it cannot be shown."""
    lookup = diplomas.look_up(ctx.services, student, acting)
    outcome = _show(conv, ctx, student, lookup.view)
    outcome.effects.extend(lookup.effects)
    return outcome


def _show(conv: Conversation, ctx: Context, student: Student, view: diplomas.RecordView) -> Outcome:
    diploma = view.diploma
    if view.state is RecordState.RECORD:
        return ctx.reply(
            conv.at(FLOW, DiplomaStep.MENU, student_id=student.id),
            "diploma/record",
            "1",
            "2",
            "0",
            name=idcard.mask_name(student.name),
            school=ctx.services.domain.school,
            d=diploma,
            enrol=diplomas.day_text(diploma.enrol_date),
            grad=diplomas.day_text(diploma.grad_date),
            **_whose(conv),
        )
    refused = diplomas.not_shown(
        view,
        for_proxy=conv.acting_for is not None,
        college=ctx.services.domain.college,
        today=today_in_china(ctx.services.now()),
    )
    return ctx.reply(conv.home(), refused.template, **refused.values)


def menu_choice(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 2)
    if (
        picked
        and conv.acting_for is not None
        and proxy.acting_proxy(conv, ctx, Scope.CERTIFICATE) is None
    ):
        return ctx.reply(conv, "proxy/out_of_scope")
    if picked == 1:
        return ctx.reply(
            conv.then(DiplomaStep.DAYS, submission=secrets.token_hex(12)), "diploma/ask_days"
        )
    if picked == 2:
        return _list(conv, ctx)
    return ctx.retry(conv, "diploma/menu_again", "1", "2", "0")


def days(conv: Conversation, ctx: Context) -> Outcome:
    wanted = _days(ctx.msg.text)
    if wanted is None:
        return ctx.retry(conv, "diploma/bad_days")
    s = ctx.services
    student = s.db.get(Student, conv.data["student_id"])
    result = diplomas.issue_certificate(
        s, student, wanted, _acting(conv, ctx), conv.data.get("submission")
    )
    if result.refused:  # revoked (or withdrawn) since the record was shown: say how it stands now
        return ctx.reply(conv.home(), result.refused.template, **result.refused.values)
    return Outcome(conv.home(), [_link(ctx, result, "diploma/issued")], result.effects)


def pick(conv: Conversation, ctx: Context) -> Outcome:
    codes = conv.data["codes"]
    picked = text.choice(ctx.msg.text, len(codes))
    if picked is None:
        return ctx.retry(conv, "diploma/pick_again", count=len(codes))
    data = {"student_id": conv.data["student_id"], "code": codes[picked - 1]}
    state = certificates.status(_mine(ctx, conv.with_data(**data)), ctx.services.now())
    if state in certificates.FINAL:  # nothing left to do with it: say so, offer nothing
        return ctx.reply(conv.home(), "diploma/cert_final", code=data["code"])
    return _manage_menu(conv.at(FLOW, DiplomaStep.MANAGE, **data), ctx, state, retry=False)


def manage(conv: Conversation, ctx: Context) -> Outcome:
    cert = _mine(ctx, conv)
    state = certificates.status(cert, ctx.services.now())
    picked = text.choice(ctx.msg.text, 3)
    if cert is None or picked is None:
        return _manage_menu(conv, ctx, state, retry=True)
    if state in certificates.FINAL:
        return ctx.reply(conv.home(), "diploma/cert_final", code=cert.code)
    if picked == 1:
        result = diplomas.download_certificate(ctx.services, cert, _acting(conv, ctx))
        if (
            result.refused
        ):  # expired: no link to a PDF that would not open; it may still be extended
            return ctx.reply(conv, result.refused.template, **result.refused.values)
        return Outcome(conv.home(), [_link(ctx, result, "diploma/link_again")], result.effects)
    if picked == 2:
        return ctx.reply(conv.then(DiplomaStep.EXTEND), "diploma/ask_days", extending=True)
    return ctx.reply(
        conv.then(DiplomaStep.CLOSE), "diploma/close_confirm", "1", "0", code=cert.code
    )


def extend(conv: Conversation, ctx: Context) -> Outcome:
    wanted = _days(ctx.msg.text)
    if wanted is None:
        return ctx.retry(conv, "diploma/bad_days")
    result = diplomas.extend_certificate(ctx.services, _mine(ctx, conv), wanted, _acting(conv, ctx))
    if result.refused and result.refused.code == diplomas.NOT_LONGER:
        return ctx.retry(conv, result.refused.template, **result.refused.values)
    if result.refused:  # closed or revoked since it was picked
        return ctx.reply(conv.home(), result.refused.template, **result.refused.values)
    return Outcome(conv.home(), [_link(ctx, result, "diploma/extended")], result.effects)


def close(conv: Conversation, ctx: Context) -> Outcome:
    if text.choice(ctx.msg.text, 1) != 1 and not text.is_yes(ctx.msg.text):
        return ctx.retry(conv, "account/confirm_again", "1", "0")
    result = diplomas.close_certificate(ctx.services, _mine(ctx, conv), _acting(conv, ctx))
    if result.refused:  # closed or revoked since it was picked
        return ctx.reply(conv.home(), result.refused.template, **result.refused.values)
    return Outcome(conv.home(), [ctx.say("diploma/closed", code=result.cert.code)], result.effects)


def _manage_menu(
    conv: Conversation, ctx: Context, state: certificates.CertStatus, retry: bool
) -> Outcome:
    """What may be done with the picked certificate: an expired one has no link to offer."""
    expired = state is certificates.CertStatus.EXPIRED
    buttons = ("2", "3", "0") if expired else ("1", "2", "3", "0")
    say = ctx.retry if retry else ctx.reply
    return say(conv, "diploma/manage", *buttons, code=conv.data["code"], expired=expired)


def _acting(conv: Conversation, ctx: Context) -> Proxy | None:
    """The proxy acting on the graduate's certificates (None when acting for oneself)."""
    return proxy.acting_proxy(conv, ctx, Scope.CERTIFICATE) if conv.acting_for is not None else None


# steps that act on certificates: a proxy needs the certificate scope at each of them
CERTIFICATE_STEPS = {
    DiplomaStep.DAYS,
    DiplomaStep.LIST,
    DiplomaStep.MANAGE,
    DiplomaStep.EXTEND,
    DiplomaStep.CLOSE,
}
STEPS = {
    DiplomaStep.CODE: code,
    DiplomaStep.MENU: menu_choice,
    DiplomaStep.DAYS: days,
    DiplomaStep.LIST: pick,
    DiplomaStep.MANAGE: manage,
    DiplomaStep.EXTEND: extend,
    DiplomaStep.CLOSE: close,
}


# -- helpers ---------------------------------------------------------------------------------------
def _list(conv: Conversation, ctx: Context) -> Outcome:
    s = ctx.services
    certs = s.db.scalars(
        select(Certificate)
        .where(Certificate.student_id == conv.data["student_id"])
        .order_by(Certificate.issued_at.desc())
        .limit(5)
    ).all()
    if not certs:
        return ctx.reply(conv, "diploma/no_certs", "1", "0", **_whose(conv))
    now = s.now()
    rows = [
        (c.code, f"{local(c.valid_until):%Y-%m-%d}", certificates.status(c, now).value)
        for c in certs
    ]
    data = {"student_id": conv.data["student_id"], "codes": [c.code for c in certs]}
    return ctx.reply(
        conv.at(FLOW, DiplomaStep.LIST, **data), "diploma/cert_list", rows=rows, **_whose(conv)
    )


def _whose(conv: Conversation) -> dict:
    return diplomas.whose(conv.acting_for is not None)


def _mine(ctx: Context, conv: Conversation) -> Certificate | None:
    return diplomas.certificate_of(ctx.services.db, conv.data["student_id"], conv.data["code"])


def _link(ctx: Context, result: diplomas.CertificateResult, template: str) -> Reply:
    cert = result.cert
    body = ctx.book.render(template, code=cert.code, until=f"{local(cert.valid_until):%Y-%m-%d}")
    return Reply(body, link_url=result.link.url, link_title="电子学历证明（点开下载）")


def _days(said: str) -> int | None:
    days = text.read_days(said)
    return days if days is not None and diplomas.days_allowed(days) else None
