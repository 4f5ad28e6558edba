"""证书遗失 in the chat: what the college issues instead and what it needs, then the urgent date,
the photos, pickup or post (the address), the contact phone, a summary to confirm, and the ticket
number. The rules are bot/lost/rules.py's; photos and the contact phone are taken as an appeal
takes them (bot/appeals/intake.py), and the ticket is followed with "4 我的异议".

    urgent    1 no deadline, or the date of a study-abroad or job deadline
    photos    ID card (both sides) and the signed statement; 完成 when done
    delivery  1 pickup at the office, 2 post
    address   the postal address (sealed in the state and in the database)
    contact   1 the phone on file, or another number
    email     an address for e-mail notices (abroad, SMS may not arrive), or 1 for none
    confirm   1 submit, 2 start over
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from enum import auto

from bot import understand as text
from bot.appeals import intake
from bot.appeals import rules as appeals
from bot.appeals import script as appeal
from bot.core.flow import Context, Outcome
from bot.core.messages import MessageKind
from bot.core.state import Conversation, FlowStep
from bot.lost import rules as lost
from bot.lost.rules import LostForm
from bot.platform import idcard
from bot.platform.workdays import today_in_china
from models import Delivery

FLOW = "lost"
NO_EMAIL = re.compile(r"^(不需要|不用|不要|没有|无|不)(邮箱|邮件|邮件通知)?(了)?$")
DELIVERY_NAMES = {Delivery.PICKUP: "到学校自取", Delivery.POST: "邮寄"}


class LostStep(FlowStep):
    URGENT = auto()
    PHOTOS = auto()
    DELIVERY = auto()
    ADDRESS = auto()
    CONTACT = auto()
    EMAIL = auto()
    CONFIRM = auto()


def start(conv: Conversation, ctx: Context) -> Outcome:
    """Entry: the graduate's own, bound; then what it is, what it needs, what it costs."""
    refused = lost.may_ask(ctx.services, conv.acting_for)
    if refused is not None:
        return ctx.reply(conv.home(), refused.template, **refused.values)
    return ctx.reply(
        conv.at(FLOW, LostStep.URGENT), "lost/intro", "1", fee=lost.fee_text(_college(ctx))
    )


def handle(conv: Conversation, ctx: Context) -> Outcome:
    """Dispatch to the current step."""
    return STEPS[LostStep(conv.step)](conv, ctx)


def urgent(conv: Conversation, ctx: Context) -> Outcome:
    said = text.clean(ctx.msg.text)
    if text.choice(said, 1) == 1 or text.is_no(said) or appeal.NO_DEADLINE.match(said):
        return _ask_photos(conv.with_data(urgent=None), ctx)
    deadline = text.read_date(said, today_in_china(ctx.services.now()))
    if deadline is None:
        return ctx.retry(conv, "appeal/bad_date")
    if intake.deadline_passed(deadline, ctx.services.now()):
        return ctx.retry(conv, "appeal/deadline_passed", "1", day=deadline.isoformat())
    return _ask_photos(conv.with_data(urgent=deadline.isoformat()), ctx)


def photos(conv: Conversation, ctx: Context) -> Outcome:
    media = list(conv.data.get("media", []))
    if ctx.msg.kind is MessageKind.IMAGE and ctx.msg.media_id:
        if len(media) >= intake.MAX_PHOTOS:
            return ctx.reply(conv, "appeal/photos_full", limit=intake.MAX_PHOTOS)
        media.append(ctx.msg.media_id)
        return ctx.reply(conv.with_data(media=media), "appeal/photo_received", count=len(media))
    if text.clean(ctx.msg.text).lower() not in appeal.DONE_WORDS:
        return ctx.retry(conv, "appeal/photos_waiting", needs=appeals.LOST.needs)
    refused = intake.photos_missing(appeals.LOST.key, len(media))
    if refused is not None:
        return ctx.retry(conv, refused.template, **refused.values)
    return ctx.reply(conv.then(LostStep.DELIVERY, media=media), "lost/ask_delivery", "1", "2")


def delivery(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 2)
    if picked is None:
        return ctx.retry(conv, "lost/ask_delivery", "1", "2")
    if picked == 2:
        return ctx.reply(
            conv.then(LostStep.ADDRESS, delivery=Delivery.POST.value), "lost/ask_address"
        )
    return _ask_contact(conv.with_data(delivery=Delivery.PICKUP.value, address_sealed=None), ctx)


def address(conv: Conversation, ctx: Context) -> Outcome:
    said = text.tidy(ctx.msg.text)
    refused = lost.address_problem(said)
    if refused is not None:
        return ctx.retry(conv, refused.template, **refused.values)
    return _ask_contact(conv.with_data(address_sealed=ctx.services.cipher.seal_text(said)), ctx)


def contact(conv: Conversation, ctx: Context) -> Outcome:
    phone = intake.phone_on_file(ctx.services, None)
    if text.choice(ctx.msg.text, 1) == 1 and phone:
        chosen = phone
    elif text.read_phone(ctx.msg.text) is not None:
        chosen = text.read_phone(ctx.msg.text)
    else:
        return ctx.retry(conv, intake.BAD_PHONE.template)
    conv = conv.then(LostStep.EMAIL, phone_sealed=ctx.services.cipher.seal_text(chosen))
    return ctx.reply(conv, "lost/ask_email", "1")


def email(conv: Conversation, ctx: Context) -> Outcome:
    said = text.clean(ctx.msg.text)
    given = None
    if not (text.choice(said, 1) == 1 or text.is_no(said) or NO_EMAIL.match(said)):
        given = text.read_email(said)
        if given is None:
            return ctx.retry(conv, "lost/bad_email", "1")
    conv = conv.then(
        LostStep.CONFIRM,
        email_sealed=ctx.services.cipher.seal_text(given) if given else None,
        submission=secrets.token_hex(12),
    )
    phone = ctx.services.cipher.open_text(conv.data["phone_sealed"])
    return ctx.reply(conv, "lost/confirm", "1", "2", **_summary(conv, ctx, phone))


def confirm(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 2)
    if picked == 2:
        return start(conv.home(), ctx)
    if picked != 1 and not text.is_yes(ctx.msg.text):
        return ctx.retry(conv, "lost/confirm_again", "1", "2")
    filed = lost.file_request(ctx.services, _form(conv, ctx), conv.data.get("submission"))
    if filed.refused is not None:  # unbound, or tickets filed meanwhile from the mini-program
        return ctx.reply(conv.home(), filed.refused.template, **filed.refused.values)
    ticket = filed.appeal
    reply = ctx.say(
        "lost/filed",
        ticket=ticket.ticket_no,
        due=f"{ticket.due_date:%Y-%m-%d}",
        urgent=ticket.urgent,
        fee=lost.fee_text(_college(ctx)),
    )
    return Outcome(conv.home(), [reply], filed.effects)


# -- helpers ----------------------------------------------------------------------------------------
def _ask_photos(conv: Conversation, ctx: Context) -> Outcome:
    return ctx.reply(
        conv.then(LostStep.PHOTOS, media=[]), "appeal/ask_photos", needs=appeals.LOST.needs
    )


def _ask_contact(conv: Conversation, ctx: Context) -> Outcome:
    phone = intake.phone_on_file(ctx.services, None)
    step = conv.then(LostStep.CONTACT)
    if phone:
        return ctx.reply(step, "appeal/ask_contact_known", "1", phone=idcard.mask_phone(phone))
    return ctx.reply(step, "appeal/ask_contact")


def _summary(conv: Conversation, ctx: Context, phone: str) -> dict:
    how = DELIVERY_NAMES[Delivery(conv.data["delivery"])]
    if conv.data.get("address_sealed"):
        shown = lost.mask_address(ctx.services.cipher.open_text(conv.data["address_sealed"]))
        how = f"{how}（{shown}）"
    return {
        "delivery": how,
        "photos": len(conv.data.get("media", [])),
        "urgent": conv.data.get("urgent"),
        "phone": idcard.mask_phone(phone),
        "email": lost.mask_email(_opened(ctx, conv.data.get("email_sealed"))),
        "fee": lost.fee_text(_college(ctx)),
    }


def _opened(ctx: Context, sealed: str | None) -> str | None:
    return ctx.services.cipher.open_text(sealed) if sealed else None


def _form(conv: Conversation, ctx: Context) -> LostForm:
    cipher, data = ctx.services.cipher, conv.data
    return LostForm(
        delivery=Delivery(data["delivery"]),
        contact_phone=cipher.open_text(data["phone_sealed"]),
        address=cipher.open_text(data["address_sealed"]) if data.get("address_sealed") else None,
        urgent_deadline=date.fromisoformat(data["urgent"]) if data.get("urgent") else None,
        email=_opened(ctx, data.get("email_sealed")),
        media_ids=list(data.get("media", [])),
    )


def _college(ctx: Context):
    return ctx.services.domain.college


STEPS = {
    LostStep.URGENT: urgent,
    LostStep.PHOTOS: photos,
    LostStep.DELIVERY: delivery,
    LostStep.ADDRESS: address,
    LostStep.CONTACT: contact,
    LostStep.EMAIL: email,
    LostStep.CONFIRM: confirm,
}
