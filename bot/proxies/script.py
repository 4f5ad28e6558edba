"""Acting for a family member (代办): the hub, the request, the graduate's consent, the notarised
authorisation, switching whom one acts for, and the graduate's own list with one-step revocation.

    hub          1 ask to act for a family member, 2 choose for whom I act now, 3 who acts for me
    relation     1 parent 2 spouse 3 child (direct relatives only); 4 the village service point
                 pilot, only when GRADCERT_SERVICE_POINT_PILOT is on (consent and review as for all)
    graduate     the graduate's name and ID number
    consent      the notice for the proxy's own data
    method       1 code to the graduate's phone, 2 a message to the graduate's own account
    grad_code    the code the graduate passed on
    waiting      waiting for the graduate to answer in their own chat
    document_no  the notarised authorisation's number
    document     its photo, then staff review
    switch       1 myself, 2.. each graduate
    mine         the graduate's list: reply a number to revoke that proxy
"""

from __future__ import annotations

import re
from enum import auto

from bot import understand as text
from bot.account import menu
from bot.binding import code_step as sms_code
from bot.binding.refusals import too_many_mismatches
from bot.binding.rules import (
    CONSENT_VERSION,
    active_binding,
    match_identity,
    record_consent,
)
from bot.binding.script import claimed_identity
from bot.core.effects import push_accounts
from bot.core.flow import Context, Outcome
from bot.core.messages import Effect, MessageKind
from bot.core.state import Conversation, FlowStep
from bot.platform import idcard
from bot.platform.workdays import local
from bot.proxies import rules as proxies
from models import Attachment, Proxy, ProxyState, Relationship, Scope, Student

FLOW = "proxy"
RELATIONS = ["parent", "spouse", "child"]  # direct relatives, as the college's rule says
PILOT_RELATIONS = [*RELATIONS, "service_point"]  # with the village service point pilot


class ProxyStep(FlowStep):
    HUB = auto()
    RELATION = auto()
    GRADUATE = auto()
    CONSENT = auto()
    METHOD = auto()
    GRAD_CODE = auto()
    WAITING = auto()
    DOCUMENT_NO = auto()
    DOCUMENT = auto()
    SWITCH = auto()
    MINE = auto()


def start(conv: Conversation, ctx: Context) -> Outcome:
    """The hub, or straight to where an unfinished request stands."""
    pending = proxies.pending_of(ctx.services.db, ctx.services.account.id)
    if pending is not None and pending.state == ProxyState.AWAITING_DOCUMENT:
        return ctx.reply(
            conv.at(FLOW, ProxyStep.DOCUMENT_NO, proxy_id=pending.id), "proxy/ask_document_no"
        )
    return ctx.reply(
        conv.at(FLOW, ProxyStep.HUB),
        "proxy/hub",
        "1",
        "2",
        "3",
        "0",
        acting=_acting_label(conv, ctx),
    )


def handle(conv: Conversation, ctx: Context) -> Outcome:
    """Dispatch to the current step."""
    return STEPS[ProxyStep(conv.step)](conv, ctx)


def hub(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 3)
    if picked == 1:
        return ctx.reply(
            conv.at(FLOW, ProxyStep.RELATION),
            "proxy/ask_relation",
            *_relation_buttons(ctx),
            pilot=_pilot(ctx),
        )
    if picked == 2:
        return _switch_menu(conv, ctx)
    if picked == 3:
        return _mine(conv, ctx)
    return ctx.retry(conv, "proxy/hub", "1", "2", "3", "0", acting=_acting_label(conv, ctx))


def relation(conv: Conversation, ctx: Context) -> Outcome:
    offered = PILOT_RELATIONS if _pilot(ctx) else RELATIONS
    picked = text.choice(ctx.msg.text, len(offered))
    if picked is None:
        return ctx.retry(conv, "proxy/relation_again", *_relation_buttons(ctx), pilot=_pilot(ctx))
    return ctx.reply(
        conv.then(ProxyStep.GRADUATE, relation=offered[picked - 1]), "proxy/ask_graduate"
    )


def graduate(conv: Conversation, ctx: Context) -> Outcome:
    s = ctx.services
    retry, given_name, number, _ = claimed_identity(conv, ctx, "proxy/ask_graduate")
    if retry is not None:
        return retry
    # the binding's limit and audit
    found = match_identity(s, given_name, number, None, action="proxy_match")
    if found.wait:
        refused = too_many_mismatches(found.wait)
        return ctx.reply(conv.home(), refused.template, **refused.values)
    student = found.student
    if student is None:
        return ctx.retry(conv, "proxy/no_match")
    own = active_binding(s.db, s.account)
    if own is not None and own.student_id == student.id:
        return ctx.reply(conv.home(), "proxy/not_yourself")
    if any(p.student_id == student.id for p in proxies.actives_of(s.db, s.account.id, s.now())):
        return ctx.reply(conv.home(), "proxy/already_active", name=idcard.mask_name(student.name))
    return ctx.reply(
        conv.then(ProxyStep.CONSENT, student_id=student.id),
        "proxy/consent",
        "1",
        "0",
        version=CONSENT_VERSION,
    )


def consent(conv: Conversation, ctx: Context) -> Outcome:
    if text.choice(ctx.msg.text, 1) != 1 and not text.is_yes(ctx.msg.text):
        if text.is_no(ctx.msg.text):
            return menu.show(conv, ctx, prefix="proxy/consent_refused")
        return ctx.retry(conv, "binding/consent_again", "1", "0")
    s = ctx.services
    try:
        proxy = proxies.request(s.db, s.account.id, conv.data["student_id"], conv.data["relation"])
    except proxies.ProxyNotAllowed:  # an earlier request was approved meanwhile
        student = s.db.get(Student, conv.data["student_id"])
        return ctx.reply(conv.home(), "proxy/already_active", name=idcard.mask_name(student.name))
    record_consent(s.db, s.account, notice="proxy")
    s.audit("proxy_request", proxy.student_id, detail=f"proxy:{proxy.id}")
    return ctx.reply(conv.then(ProxyStep.METHOD, proxy_id=proxy.id), "proxy/ask_method", "1", "2")


def method(conv: Conversation, ctx: Context) -> Outcome:
    s = ctx.services
    proxy = _open_request(conv, ctx, ProxyState.AWAITING_GRADUATE)
    if proxy is None:
        return _where_it_stands(conv, ctx)
    picked = text.choice(ctx.msg.text, 2)
    if picked == 1:
        sent = sms_code.send(
            conv.then(ProxyStep.GRAD_CODE), ctx, proxy.student, "proxy", refused_at=conv
        )
        notice = proxies.code_sent_notice(s.db, ctx.book, proxy)
        if sent.effects and notice is not None:  # the graduate hears of it in their own chat too
            sent.effects.append(notice)
        return sent
    if picked == 2:
        accounts = proxies.graduate_accounts(s.db, proxy.student_id)
        if not accounts:
            return ctx.reply(conv, "proxy/graduate_not_bound", "1")
        ask = ctx.book.render(
            "proxy/ask_graduate_consent",
            relation=proxies.RELATION_NAMES[proxy.relation],
            service_point=proxy.relation is Relationship.SERVICE_POINT,
            number=proxy.id,
            when=f"{local(proxy.created_at):%m-%d %H:%M}",
        )
        effect = Effect(push_accounts, {"account_ids": [a.id for a in accounts], "text": ask})
        return Outcome(conv.then(ProxyStep.WAITING), [ctx.say("proxy/waiting")], [effect])
    return ctx.retry(conv, "proxy/ask_method", "1", "2")


def grad_code(conv: Conversation, ctx: Context) -> Outcome:
    proxy = _open_request(conv, ctx, ProxyState.AWAITING_GRADUATE)
    if (
        proxy is None
    ):  # refused from the graduate's own account meanwhile: the code must not revive it
        return _where_it_stands(conv, ctx)
    problem = sms_code.check(conv, ctx, proxy.student, "proxy")
    if problem is not None:
        return problem
    return _confirmed(conv, ctx, proxy, "sms_code")


def waiting(conv: Conversation, ctx: Context) -> Outcome:
    proxy = ctx.services.db.get(Proxy, conv.data["proxy_id"])
    if proxy.state == ProxyState.AWAITING_DOCUMENT:
        return ctx.reply(conv.then(ProxyStep.DOCUMENT_NO), "proxy/ask_document_no")
    if proxy.state == ProxyState.ACTIVE:
        return menu.show(conv, ctx, prefix="proxy/active_now")
    if proxy.state != ProxyState.AWAITING_GRADUATE:
        return menu.show(conv, ctx, prefix="proxy/refused_by_graduate")
    return ctx.retry(conv, "proxy/still_waiting")


def document_no(conv: Conversation, ctx: Context) -> Outcome:
    if (
        _open_request(conv, ctx, ProxyState.AWAITING_DOCUMENT) is None
    ):  # e.g. sent from the mini-program
        return _where_it_stands(conv, ctx)
    number = proxies.document_number(ctx.msg.text)
    if number is None:
        return ctx.retry(conv, "proxy/bad_document_no")
    return ctx.reply(conv.then(ProxyStep.DOCUMENT, document_no=number), "proxy/ask_document")


def document(conv: Conversation, ctx: Context) -> Outcome:
    proxy = _open_request(conv, ctx, ProxyState.AWAITING_DOCUMENT)
    if proxy is None:  # revoked by the graduate meanwhile: nothing goes to review
        return _where_it_stands(conv, ctx)
    if ctx.msg.kind is not MessageKind.IMAGE or not ctx.msg.media_id:
        return ctx.retry(conv, "proxy/ask_document")
    s = ctx.services
    attachment = Attachment(proxy_id=proxy.id, media_id=ctx.msg.media_id)
    s.db.add(attachment)
    s.db.flush()
    proxies.document_submitted(proxy, conv.data["document_no"])
    s.audit("proxy_document", proxy.student_id, detail=f"proxy:{proxy.id}")
    effect = Effect(
        proxies.fetch_document, {"attachment_id": attachment.id}, key=str(attachment.id)
    )
    return Outcome(conv.home(), [ctx.say("proxy/under_review")], [effect])


def switch(conv: Conversation, ctx: Context) -> Outcome:
    actives = proxies.actives_of(ctx.services.db, ctx.services.account.id, ctx.services.now())
    picked = text.choice(ctx.msg.text, len(actives) + 1)
    if picked is None:
        return _switch_menu(conv, ctx)
    home = Conversation(
        version=conv.version, acting_for=None if picked == 1 else actives[picked - 2].student_id
    )
    return menu.show(home, ctx)


def mine(conv: Conversation, ctx: Context) -> Outcome:
    """A number from the list shown: revoke that proxy (by its id, not its place in a list that
    may have changed since), while this account is still the graduate's."""
    s = ctx.services
    own = active_binding(s.db, s.account)
    if own is None or own.student_id != conv.data["student_id"]:
        return menu.show(conv, ctx)
    listed = conv.data.get("listed", [])
    picked = text.choice(text.clean(ctx.msg.text).replace("撤销", ""), len(listed))
    if picked is None:
        return _mine(conv, ctx)
    proxy = proxies.locked(s.db, listed[picked - 1])
    if proxy is None or proxy.student_id != own.student_id or proxy.state not in proxies.LIVE:
        return _mine(conv, ctx)  # ended meanwhile: the list as it is now
    effect = proxies.revoked_by_graduate(s, ctx.book, proxy)
    return Outcome(conv.home(), [ctx.say("proxy/revoked")], [effect])


STEPS = {
    ProxyStep.HUB: hub,
    ProxyStep.RELATION: relation,
    ProxyStep.GRADUATE: graduate,
    ProxyStep.CONSENT: consent,
    ProxyStep.METHOD: method,
    ProxyStep.GRAD_CODE: grad_code,
    ProxyStep.WAITING: waiting,
    ProxyStep.DOCUMENT_NO: document_no,
    ProxyStep.DOCUMENT: document,
    ProxyStep.SWITCH: switch,
    ProxyStep.MINE: mine,
}


def start_mine(conv: Conversation, ctx: Context) -> Outcome:
    """我的代办人, from anywhere: the graduate's own list."""
    return _mine(conv, ctx)


# -- the graduate answers in their own chat ------------------------------------------------------
def graduate_answer(conv: Conversation, ctx: Context, agree: bool) -> Outcome:
    """同意代办 / 拒绝代办 from the graduate's own bound account."""
    s = ctx.services
    own = active_binding(s.db, s.account)
    waiting_for = (
        [
            p
            for p in proxies.of_graduate(s.db, own.student_id)
            if p.state == ProxyState.AWAITING_GRADUATE
        ]
        if own
        else []
    )
    if not waiting_for:
        return ctx.reply(conv, "proxy/nothing_to_answer")
    number = re.sub(r"\D", "", text.number_token(ctx.msg.text))
    chosen = [p for p in waiting_for if str(p.id) == number]
    if not number and len(waiting_for) == 1:  # the only request waiting: no number to ask for
        chosen = waiting_for
    if not chosen:  # with several, the number must be given: the newest is not always the parent's
        rows = [
            (p.id, proxies.claimed_as(p.relation), f"{local(p.created_at):%m-%d %H:%M}")
            for p in waiting_for
        ]
        return ctx.reply(conv, "proxy/which_request", rows=rows, agree=agree)
    proxy = proxies.locked(s.db, chosen[0].id)
    if (
        proxy.state != ProxyState.AWAITING_GRADUATE
    ):  # the code was typed meanwhile, or it was withdrawn
        return ctx.reply(conv, "proxy/nothing_to_answer")
    if agree:
        proxies.graduate_confirmed(proxy, "graduate_account", s.now())
        note = "proxy/graduate_agreed_for_proxy"
    else:
        proxies.revoke(proxy, "graduate", s.now())
        note = "proxy/graduate_refused_for_proxy"
    s.audit(
        "proxy_graduate_answer",
        proxy.student_id,
        result="agreed" if agree else "refused",
        detail=f"proxy:{proxy.id}",
    )
    effect = Effect(
        push_accounts,
        {"account_ids": [proxy.proxy_account_id], "text": ctx.book.render(note)},
        key=str(proxy.id),
    )
    return Outcome(conv, [ctx.say("proxy/answer_recorded", agree=agree)], [effect])


# -- used by the flows a proxy acts in ------------------------------------------------------------
def acting_proxy(conv: Conversation, ctx: Context, scope: Scope) -> Proxy | None:
    """The active proxy this conversation acts through, if it covers `scope`."""
    try:
        return proxies.active_proxy(
            ctx.services.db, ctx.services.account.id, conv.acting_for, scope, ctx.services.now()
        )
    except proxies.ProxyNotAllowed:
        return None


# -- helpers ----------------------------------------------------------------------------------------
def _where_it_stands(conv: Conversation, ctx: Context) -> Outcome:
    """The request moved on elsewhere (the graduate's own chat, the mini-program, staff): say where."""
    proxy = ctx.services.db.get(Proxy, conv.data["proxy_id"])
    state = (
        proxy.state
        if proxy is not None and proxy.proxy_account_id == ctx.services.account.id
        else None
    )
    if state == ProxyState.AWAITING_DOCUMENT:
        return ctx.reply(conv.then(ProxyStep.DOCUMENT_NO), "proxy/ask_document_no")
    if state == ProxyState.AWAITING_REVIEW:
        return ctx.reply(conv.home(), "proxy/under_review")
    if state == ProxyState.ACTIVE:
        return menu.show(conv, ctx, prefix="proxy/active_now")
    return menu.show(conv, ctx, prefix="proxy/request_closed")


def _open_request(conv: Conversation, ctx: Context, state: ProxyState) -> Proxy | None:
    """This conversation's request (locked), if it is still this account's and still at `state`."""
    proxy = proxies.locked(ctx.services.db, conv.data["proxy_id"])
    if proxy is None or proxy.proxy_account_id != ctx.services.account.id or proxy.state != state:
        return None
    return proxy


def _confirmed(conv: Conversation, ctx: Context, proxy: Proxy, how: str) -> Outcome:
    s = ctx.services
    proxies.graduate_confirmed(proxy, how, s.now())
    s.audit("proxy_graduate_confirmed", proxy.student_id, detail=f"proxy:{proxy.id} {how}")
    if proxy.state == ProxyState.ACTIVE:
        return menu.show(conv.home(), ctx, prefix="proxy/active_now")
    return ctx.reply(conv.then(ProxyStep.DOCUMENT_NO), "proxy/ask_document_no")


def _pilot(ctx: Context) -> bool:
    """The village service point pilot is on (GRADCERT_SERVICE_POINT_PILOT)."""
    return bool(int(ctx.services.config.get("GRADCERT_SERVICE_POINT_PILOT") or 0))


def _relation_buttons(ctx: Context) -> list[str]:
    return [str(n) for n in range(1, len(PILOT_RELATIONS if _pilot(ctx) else RELATIONS) + 1)]


def _switch_menu(conv: Conversation, ctx: Context) -> Outcome:
    actives = proxies.actives_of(ctx.services.db, ctx.services.account.id, ctx.services.now())
    if not actives:  # at the hub, where 1 is "ask to act for a family member"
        return ctx.reply(conv.at(FLOW, ProxyStep.HUB), "proxy/no_actives", "1", "0")
    rows = [(idcard.mask_name(p.student.name), proxies.GRADUATE_AS[p.relation]) for p in actives]
    return ctx.reply(conv.at(FLOW, ProxyStep.SWITCH), "proxy/switch", rows=rows)


def _mine(conv: Conversation, ctx: Context) -> Outcome:
    s = ctx.services
    own = active_binding(s.db, s.account)
    if own is None:
        return ctx.reply(conv.home(), "proxy/mine_not_bound", "1", "0")
    listed = proxies.of_graduate(s.db, own.student_id)
    if not listed:
        return ctx.reply(conv.home(), "proxy/mine_none")
    rows = [
        (
            proxies.RELATION_NAMES[p.relation],
            _state_name(p),
            local(p.valid_until) if p.valid_until else None,
        )
        for p in listed
    ]
    return ctx.reply(
        conv.at(FLOW, ProxyStep.MINE, student_id=own.student_id, listed=[p.id for p in listed]),
        "proxy/mine",
        rows=rows,
    )


def _state_name(proxy: Proxy) -> str:
    return {
        "active": "代办中",
        "awaiting_review": "学校审核中",
        "awaiting_document": "等待公证书",
        "awaiting_graduate": "等你同意",
        "requested": "申请中",
    }.get(proxy.state, proxy.state)


def _acting_label(conv: Conversation, ctx: Context) -> str:
    if conv.acting_for is None:
        return "为自己办理"
    student = ctx.services.db.get(Student, conv.acting_for)
    return f"代 {idcard.mask_name(student.name)} 办理" if student else "为自己办理"
