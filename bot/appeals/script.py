"""Appeals (异议申请): the usual causes first, then category, description, deadline, photos,
contact phone, a summary to confirm, and the ticket number. Also "4 my appeals" and adding
information to a ticket that waits for it.

    cause      1-8 the usual causes (one line each), 9 none of these
    self_fix   spelling or the X: 1 bind again with the fix, 2 file anyway
    identity   name + ID number (+ student number), when the account is not bound
    describe   what is wrong, up to 500 characters
    urgent     1 no deadline, or the date of a study-abroad or job deadline
    photos     photos of the documents the category needs; 完成 when done
    contact    1 the phone on file, or another number
    confirm    1 submit, 2 start over
    more_info  after a ticket asked for more: every text or photo is added to it, until 0
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from enum import auto

from bot import understand as text
from bot.account import menu
from bot.appeals import intake
from bot.appeals import rules as appeals
from bot.appeals.intake import AppealForm
from bot.binding import script as binding
from bot.core.flow import Context, Outcome
from bot.core.messages import MessageKind
from bot.core.state import Conversation, FlowStep
from bot.platform import idcard
from bot.platform.workdays import today_in_china
from bot.proxies import script as proxy
from models import OPEN_STATUSES, Appeal, AppealStatus, Proxy, Scope

FLOW = "appeal"
DONE_WORDS = {"完成", "好了", "发完了", "没有了", "没有", "结束", "完毕", "ok", "1"}
SELF_FIXABLE = {"name_spelling", "id_x"}
NO_DEADLINE = re.compile(r"^(没有|没|无|不急|不着急|不用)(截止日期|截止|日期|急事|急用|期限)?了?$")


class AppealStep(FlowStep):
    CAUSE = auto()
    SELF_FIX = auto()
    IDENTITY = auto()
    DESCRIBE = auto()
    URGENT = auto()
    PHOTOS = auto()
    CONTACT = auto()
    CONFIRM = auto()
    MORE_INFO = auto()  # everything sent goes to one ticket until 0


def start(conv: Conversation, ctx: Context) -> Outcome:
    """Entry: at most 3 open tickets, then the usual causes."""
    if conv.acting_for is not None and _acting(conv, ctx) is None:
        return ctx.reply(conv, "proxy/out_of_scope")
    refused = intake.too_many_open(ctx.services)
    if refused is not None:
        return ctx.reply(conv, refused.template, **refused.values)
    carried = {k: conv.data[k] for k in ("name", "id_sealed", "student_no") if conv.data.get(k)}
    return ctx.reply(
        conv.at(FLOW, AppealStep.CAUSE, **carried), "appeal/causes", categories=appeals.CATEGORIES
    )


def handle(conv: Conversation, ctx: Context) -> Outcome:
    """Dispatch to the current step."""
    return STEPS[AppealStep(conv.step)](conv, ctx)


def cause(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, len(appeals.CATEGORIES))
    if picked is None:
        return ctx.retry(conv, "appeal/causes", categories=appeals.CATEGORIES)
    category = appeals.CATEGORIES[picked - 1]
    conv = conv.with_data(category=category.key)
    if (
        category.key in SELF_FIXABLE and conv.acting_for is None
    ):  # a proxy cannot re-bind for the graduate
        return ctx.reply(
            conv.then(AppealStep.SELF_FIX), f"appeal/self_fix_{category.key}", "1", "2"
        )
    return _after_category(conv, ctx)


def self_fix(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 2)
    if picked == 1:
        return binding.start(conv.home(), ctx)
    if picked == 2:
        return _after_category(conv, ctx)
    return ctx.retry(conv, f"appeal/self_fix_{conv.data['category']}", "1", "2")


def identity(conv: Conversation, ctx: Context) -> Outcome:
    retry, given_name, number, student_number = binding.claimed_identity(
        conv, ctx, "appeal/ask_identity"
    )
    if retry is not None:
        return retry
    conv = conv.with_data(
        name=given_name, id_sealed=ctx.services.cipher.seal_text(number), student_no=student_number
    )
    return ctx.reply(conv.then(AppealStep.DESCRIBE), "appeal/ask_description")


def describe(conv: Conversation, ctx: Context) -> Outcome:
    said = text.free_text(ctx.msg.text)
    refused = intake.description_problem(said)
    if refused is not None:
        return ctx.retry(conv, refused.template, **refused.values)
    return ctx.reply(conv.then(AppealStep.URGENT, description=said), "appeal/ask_urgent", "1")


def urgent(conv: Conversation, ctx: Context) -> Outcome:
    said = text.clean(ctx.msg.text)
    if text.choice(said, 1) == 1 or text.is_no(said) or NO_DEADLINE.match(said):
        return _ask_photos(conv.with_data(urgent=None), ctx)
    deadline = text.read_date(said, today_in_china(ctx.services.now()))
    if deadline is None:
        return ctx.retry(conv, "appeal/bad_date")
    if intake.deadline_passed(deadline, ctx.services.now()):  # read, but gone: say so
        return ctx.retry(conv, "appeal/deadline_passed", "1", day=deadline.isoformat())
    return _ask_photos(conv.with_data(urgent=deadline.isoformat()), ctx)


def photos(conv: Conversation, ctx: Context) -> Outcome:
    media = list(conv.data.get("media", []))
    if ctx.msg.kind is MessageKind.IMAGE and ctx.msg.media_id:
        if len(media) >= intake.MAX_PHOTOS:
            return ctx.reply(conv, "appeal/photos_full", limit=intake.MAX_PHOTOS)
        media.append(ctx.msg.media_id)
        return ctx.reply(conv.with_data(media=media), "appeal/photo_received", count=len(media))
    if text.clean(ctx.msg.text).lower() not in DONE_WORDS:
        return ctx.retry(conv, "appeal/photos_waiting", needs=_needs(conv))
    refused = intake.photos_missing(conv.data["category"], len(media))
    if refused is not None:
        return ctx.retry(conv, refused.template, **refused.values)
    phone = _phone_on_file(conv, ctx)
    step = conv.then(AppealStep.CONTACT, media=media)
    if phone:
        return ctx.reply(step, "appeal/ask_contact_known", "1", phone=idcard.mask_phone(phone))
    return ctx.reply(step, "appeal/ask_contact")


def contact(conv: Conversation, ctx: Context) -> Outcome:
    phone = _phone_on_file(conv, ctx)
    if text.choice(ctx.msg.text, 1) == 1 and phone:
        chosen = phone
    elif text.read_phone(ctx.msg.text) is not None:
        chosen = text.read_phone(ctx.msg.text)
    else:
        return ctx.retry(conv, intake.BAD_PHONE.template)
    conv = conv.then(
        AppealStep.CONFIRM,
        phone_sealed=ctx.services.cipher.seal_text(chosen),
        submission=secrets.token_hex(12),
    )
    return ctx.reply(conv, "appeal/confirm", "1", "2", **_summary(conv, chosen))


def confirm(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 2)
    if picked == 2:
        return start(conv.home(), ctx)
    if picked != 1 and not text.is_yes(ctx.msg.text):
        return ctx.retry(conv, "appeal/confirm_again", "1", "2")
    filed = intake.file_form(
        ctx.services, _form(conv, ctx), _acting(conv, ctx), conv.data.get("submission")
    )
    if filed.refused == intake.IDENTITY_REQUIRED:  # unbound since the identity step was skipped
        return start(conv.home(), ctx)
    if filed.refused is not None:  # e.g. tickets filed meanwhile from the mini-program
        return ctx.reply(conv.home(), filed.refused.template, **filed.refused.values)
    appeal = filed.appeal
    reply = ctx.say(
        "appeal/filed",
        ticket=appeal.ticket_no,
        due=f"{appeal.due_date:%Y-%m-%d}",
        urgent=appeal.urgent,
    )
    return Outcome(conv.home(), [reply], filed.effects)


# -- "4 my appeals" and information added at the menu --------------------------------------------
def my_appeals(conv: Conversation, ctx: Context) -> Outcome:
    """The tickets the account follows (its own, and a bound graduate's filed by a proxy), newest first."""
    s = ctx.services
    rows = appeals.followed(s.db, s.account, s.now(), limit=3)
    if not rows:
        return ctx.reply(conv, "appeal/none", "3", "0")
    listed = [
        (
            a.ticket_no,
            appeals.BY_KEY[a.category].label,
            appeals.STATUS_NAMES[a.status],
            a.due_date,
            a.status in OPEN_STATUSES,
        )
        for a in rows
    ]
    waiting = any(a.status is AppealStatus.NEED_MORE_INFO for a in rows)
    return ctx.reply(conv, "appeal/list", rows=listed, waiting=waiting)


def add_information(conv: Conversation, ctx: Context) -> Outcome | None:
    """A message at the menu while a ticket waits for information goes to that ticket, and so do
    the messages after it (the more_info step) until the user goes back to the menu."""
    s = ctx.services
    appeal = appeals.waiting_for_information(s.db, s.account, s.now())
    if appeal is None:
        return None
    return _add_to(conv.at(FLOW, AppealStep.MORE_INFO, appeal_id=appeal.id), ctx, appeal)


def more_info(conv: Conversation, ctx: Context) -> Outcome:
    s = ctx.services
    appeal = s.db.get(Appeal, conv.data["appeal_id"])
    if appeal is None or not appeals.may_follow(s.db, appeal, s.account, s.now()):
        return menu.show(conv, ctx)
    if ctx.msg.kind is not MessageKind.IMAGE:  # a menu choice (2, 4, 查毕业证) is not content
        intent = menu.intent_of(ctx.msg.text, phrases=menu.CHATTER)
        if intent is not None:
            return ctx.start(conv.home(), ctx, intent)
    return _add_to(conv, ctx, appeal)


def _add_to(conv: Conversation, ctx: Context, appeal: Appeal) -> Outcome:
    photo = ctx.msg.kind is MessageKind.IMAGE and ctx.msg.media_id
    try:
        effects = intake.add_information(
            ctx.services,
            appeal,
            "" if photo else text.free_text(ctx.msg.text),
            media_ids=[ctx.msg.media_id] if photo else [],
        )
    except appeals.TransitionNotAllowed:  # closed since it was read: back to the menu
        return menu.show(conv, ctx)
    return Outcome(conv, [ctx.say("appeal/info_added", ticket=appeal.ticket_no)], effects)


# -- helpers ----------------------------------------------------------------------------------------
def _after_category(conv: Conversation, ctx: Context) -> Outcome:
    if intake.needs_identity(ctx.services, _acting(conv, ctx)) and not conv.data.get("id_sealed"):
        return ctx.reply(conv.then(AppealStep.IDENTITY), "appeal/ask_identity")
    return ctx.reply(conv.then(AppealStep.DESCRIBE), "appeal/ask_description")


def _ask_photos(conv: Conversation, ctx: Context) -> Outcome:
    return ctx.reply(
        conv.then(AppealStep.PHOTOS, media=[]), "appeal/ask_photos", needs=_needs(conv)
    )


def _needs(conv: Conversation) -> str | None:
    return appeals.BY_KEY[conv.data["category"]].needs


def _phone_on_file(conv: Conversation, ctx: Context) -> str | None:
    return intake.phone_on_file(ctx.services, _acting(conv, ctx))


def _acting(conv: Conversation, ctx: Context) -> Proxy | None:
    """The proxy filing for the graduate (None when filing for oneself)."""
    return proxy.acting_proxy(conv, ctx, Scope.APPEAL) if conv.acting_for is not None else None


def _summary(conv: Conversation, phone: str) -> dict:
    description = conv.data["description"]
    return {
        "category": appeals.BY_KEY[conv.data["category"]].label,
        "description": description if len(description) <= 40 else description[:40] + "…",
        "photos": len(conv.data.get("media", [])),
        "urgent": conv.data.get("urgent"),
        "phone": idcard.mask_phone(phone),
    }


def _form(conv: Conversation, ctx: Context) -> AppealForm:
    """The finished form, from what each step kept."""
    cipher, data = ctx.services.cipher, conv.data
    return AppealForm(
        category=data["category"],
        description=data["description"],
        contact_phone=cipher.open_text(data["phone_sealed"]),
        urgent_deadline=date.fromisoformat(data["urgent"]) if data.get("urgent") else None,
        claimed_name=data.get("name"),
        claimed_student_no=data.get("student_no"),
        claimed_id=cipher.open_text(data["id_sealed"]) if data.get("id_sealed") else None,
        media_ids=list(data.get("media", [])),
    )


STEPS = {
    AppealStep.CAUSE: cause,
    AppealStep.SELF_FIX: self_fix,
    AppealStep.IDENTITY: identity,
    AppealStep.DESCRIBE: describe,
    AppealStep.URGENT: urgent,
    AppealStep.PHOTOS: photos,
    AppealStep.CONTACT: contact,
    AppealStep.CONFIRM: confirm,
    AppealStep.MORE_INFO: more_info,
}
