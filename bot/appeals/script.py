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

from sqlalchemy import select

from bot import understand as text
from bot.account import menu
from bot.appeals import rules as appeals
from bot.appeals.intake import AppealForm, new_appeal
from bot.binding import script as binding
from bot.binding.rules import active_binding, phone_of
from bot.core.flow import Context, Outcome
from bot.core.messages import Effect, MessageKind
from bot.core.state import Conversation, FlowStep
from bot.platform import idcard
from bot.platform.workdays import today_in_china
from bot.proxies import script as proxy
from models import OPEN_STATUSES, Appeal, Attachment, Scope

FLOW = "appeal"
MAX_PHOTOS = 9
DONE_WORDS = {"完成", "好了", "发完了", "没有了", "没有", "结束", "完毕", "ok", "1"}
SELF_FIXABLE = {"name_spelling", "id_x"}


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
    s = ctx.services
    if conv.acting_for is not None and proxy.acting_proxy(conv, ctx, Scope.APPEAL) is None:
        return ctx.reply(conv, "proxy/out_of_scope")
    if appeals.open_count(s.db, s.account.id, s.now()) >= appeals.MAX_OPEN:
        return ctx.reply(conv, "appeal/too_many", limit=appeals.MAX_OPEN)
    carried = {k: conv.data[k] for k in ("name", "id_sealed", "student_no") if conv.data.get(k)}
    return ctx.reply(conv.at(FLOW, AppealStep.CAUSE, **carried), "appeal/causes", categories=appeals.CATEGORIES)


def handle(conv: Conversation, ctx: Context) -> Outcome:
    """Dispatch to the current step."""
    return STEPS[AppealStep(conv.step)](conv, ctx)


def cause(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, len(appeals.CATEGORIES))
    if picked is None:
        return ctx.retry(conv, "appeal/causes", categories=appeals.CATEGORIES)
    category = appeals.CATEGORIES[picked - 1]
    conv = conv.with_data(category=category.key)
    if category.key in SELF_FIXABLE and conv.acting_for is None:  # a proxy cannot re-bind for the graduate
        return ctx.reply(conv.then(AppealStep.SELF_FIX), f"appeal/self_fix_{category.key}", "1", "2")
    return _after_category(conv, ctx)


def self_fix(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 2)
    if picked == 1:
        return binding.start(conv.home(), ctx)
    if picked == 2:
        return _after_category(conv, ctx)
    return ctx.retry(conv, f"appeal/self_fix_{conv.data['category']}", "1", "2")


def identity(conv: Conversation, ctx: Context) -> Outcome:
    retry, given_name, number, student_number = binding.read_identity(conv, ctx, "appeal/ask_identity")
    if retry is not None:
        return retry
    conv = conv.with_data(name=given_name, id_sealed=ctx.services.cipher.seal_text(number), student_no=student_number)
    return ctx.reply(conv.then(AppealStep.DESCRIBE), "appeal/ask_description")


def describe(conv: Conversation, ctx: Context) -> Outcome:
    said = text.tidy(ctx.msg.text)
    if len(said) < 4:
        return ctx.retry(conv, "appeal/description_short")
    if len(said) > appeals.DESCRIPTION_LIMIT:
        return ctx.retry(conv, "appeal/description_long", limit=appeals.DESCRIPTION_LIMIT, length=len(said))
    return ctx.reply(conv.then(AppealStep.URGENT, description=said), "appeal/ask_urgent", "1")


def urgent(conv: Conversation, ctx: Context) -> Outcome:
    said = text.clean(ctx.msg.text)
    if text.choice(said, 1) == 1 or text.is_no(said) or said in ("没有", "不急"):
        return _ask_photos(conv.with_data(urgent=None), ctx)
    deadline = parse_date(said, today_in_china(ctx.services.now()))
    if deadline is None or deadline < today_in_china(ctx.services.now()):
        return ctx.retry(conv, "appeal/bad_date")
    return _ask_photos(conv.with_data(urgent=deadline.isoformat()), ctx)


def photos(conv: Conversation, ctx: Context) -> Outcome:
    media = list(conv.data.get("media", []))
    if ctx.msg.kind is MessageKind.IMAGE and ctx.msg.media_id:
        if len(media) >= MAX_PHOTOS:
            return ctx.reply(conv, "appeal/photos_full", limit=MAX_PHOTOS)
        media.append(ctx.msg.media_id)
        return ctx.reply(conv.with_data(media=media), "appeal/photo_received", count=len(media))
    if text.clean(ctx.msg.text).lower() not in DONE_WORDS:
        return ctx.retry(conv, "appeal/photos_waiting", needs=_needs(conv))
    if _needs(conv) and not media:
        return ctx.retry(conv, "appeal/photos_required", needs=_needs(conv))
    phone = _phone_on_file(conv, ctx)
    step = conv.then(AppealStep.CONTACT, media=media)
    if phone:
        return ctx.reply(step, "appeal/ask_contact_known", "1", phone=idcard.mask_phone(phone))
    return ctx.reply(step, "appeal/ask_contact")


def contact(conv: Conversation, ctx: Context) -> Outcome:
    said = text.number_token(ctx.msg.text)
    phone = _phone_on_file(conv, ctx)
    if said == "1" and phone:
        chosen = phone
    elif re.fullmatch(r"1[3-9]\d{9}", said):
        chosen = said
    else:
        return ctx.retry(conv, "appeal/bad_phone")
    conv = conv.then(AppealStep.CONFIRM, phone_sealed=ctx.services.cipher.seal_text(chosen),
                     submission=secrets.token_hex(12))
    return ctx.reply(conv, "appeal/confirm", "1", "2", **_summary(conv, chosen))


def confirm(conv: Conversation, ctx: Context) -> Outcome:
    picked = text.choice(ctx.msg.text, 2)
    if picked == 2:
        return start(conv.home(), ctx)
    if picked != 1 and not text.is_yes(ctx.msg.text):
        return ctx.retry(conv, "appeal/confirm_again", "1", "2")
    s = ctx.services
    filed = s.db.scalar(select(Appeal).where(Appeal.submission_key == conv.data.get("submission")))
    if filed is not None:  # this summary was filed already (the reply of that time was lost)
        return ctx.reply(conv.home(), "appeal/filed", ticket=filed.ticket_no, due=f"{filed.due_date:%Y-%m-%d}",
                         urgent=filed.urgent)
    if appeals.open_count(s.db, s.account.id, s.now()) >= appeals.MAX_OPEN:
        return ctx.reply(conv.home(), "appeal/too_many", limit=appeals.MAX_OPEN)
    appeal = _new_appeal(conv, ctx)
    appeal.submission_key = conv.data.get("submission")
    appeals.file_appeal(s.db, appeal, s.now())
    effects = []
    for media_id in conv.data.get("media", []):
        attachment = Attachment(appeal_id=appeal.id, media_id=media_id)
        s.db.add(attachment)
        s.db.flush()
        effects.append(Effect("fetch_attachment", {"attachment_id": attachment.id}, key=str(attachment.id)))
    s.audit("file_appeal", appeal.student_id, detail=appeal.ticket_no)
    if appeal.acting_for_student_id is not None:
        effects.append(proxy.notify_graduate(ctx, proxy.acting_proxy(conv, ctx, Scope.APPEAL), "提交了异议申请"))
    home = conv.home()
    reply = ctx.say("appeal/filed", ticket=appeal.ticket_no, due=f"{appeal.due_date:%Y-%m-%d}", urgent=appeal.urgent)
    return Outcome(home, [reply], effects)




# -- "4 my appeals" and information added at the menu --------------------------------------------
def my_appeals(conv: Conversation, ctx: Context) -> Outcome:
    """The tickets the account follows (its own, and a bound graduate's filed by a proxy), newest first."""
    s = ctx.services
    rows = appeals.followed(s.db, s.account, s.now(), limit=3)
    if not rows:
        return ctx.reply(conv, "appeal/none", "3", "0")
    listed = [(a.ticket_no, appeals.BY_KEY[a.category].label, appeals.STATUS_NAMES[a.status], a.due_date,
               a.status in OPEN_STATUSES) for a in rows]
    waiting = any(a.status == "need_more_info" for a in rows)
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
    return _add_to(conv, ctx, appeal)


def _add_to(conv: Conversation, ctx: Context, appeal: Appeal) -> Outcome:
    s = ctx.services
    try:
        appeals.lock_open(s.db, appeal)
    except appeals.TransitionNotAllowed:  # closed since it was read: back to the menu
        return menu.show(conv, ctx)
    effects = []
    if ctx.msg.kind is MessageKind.IMAGE and ctx.msg.media_id:
        attachment = Attachment(appeal_id=appeal.id, media_id=ctx.msg.media_id)
        s.db.add(attachment)
        s.db.flush()
        effects.append(Effect("fetch_attachment", {"attachment_id": attachment.id}, key=str(attachment.id)))
        note = "（补充了一张照片）"
    else:
        note = text.tidy(ctx.msg.text)
    appeals.add_information(s.db, appeal, s.account.id, note, s.now())
    s.audit("appeal_info", appeal.student_id, detail=appeal.ticket_no)
    return Outcome(conv, [ctx.say("appeal/info_added", ticket=appeal.ticket_no)], effects)


# -- helpers ----------------------------------------------------------------------------------------
def parse_date(said: str, today: date) -> date | None:
    """2026-12-20, 2026/12/20, 2026年12月20日, 12月20日 (this year or next), 20261220."""
    said = text.spoken_digits(said)
    m = re.search(r"(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})", said) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", said)
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = re.search(r"(\d{1,2})月(\d{1,2})", said)
        if m:
            day = date(today.year, int(m.group(1)), int(m.group(2)))
            return day if day >= today else date(today.year + 1, day.month, day.day)
    except ValueError:
        return None
    return None


def _after_category(conv: Conversation, ctx: Context) -> Outcome:
    bound = active_binding(ctx.services.db, ctx.services.account)
    if bound is None and conv.acting_for is None and not conv.data.get("id_sealed"):
        return ctx.reply(conv.then(AppealStep.IDENTITY), "appeal/ask_identity")
    return ctx.reply(conv.then(AppealStep.DESCRIBE), "appeal/ask_description")


def _ask_photos(conv: Conversation, ctx: Context) -> Outcome:
    return ctx.reply(conv.then(AppealStep.PHOTOS, media=[]), "appeal/ask_photos", needs=_needs(conv))


def _needs(conv: Conversation) -> str | None:
    return appeals.BY_KEY[conv.data["category"]].needs


def _phone_on_file(conv: Conversation, ctx: Context) -> str | None:
    if conv.acting_for is not None:  # a proxy gives their own number
        return None
    bound = active_binding(ctx.services.db, ctx.services.account)
    return phone_of(ctx.services.cipher, bound.student) if bound else None


def _summary(conv: Conversation, phone: str) -> dict:
    description = conv.data["description"]
    return {
        "category": appeals.BY_KEY[conv.data["category"]].label,
        "description": description if len(description) <= 40 else description[:40] + "…",
        "photos": len(conv.data.get("media", [])),
        "urgent": conv.data.get("urgent"),
        "phone": idcard.mask_phone(phone),
    }


def _new_appeal(conv: Conversation, ctx: Context) -> Appeal:
    s = ctx.services
    data = conv.data
    form = AppealForm(
        category=data["category"], description=data["description"],
        contact_phone=s.cipher.open_text(data["phone_sealed"]),
        urgent_deadline=date.fromisoformat(data["urgent"]) if data.get("urgent") else None,
        claimed_name=data.get("name"), claimed_student_no=data.get("student_no"),
        claimed_id=s.cipher.open_text(data["id_sealed"]) if data.get("id_sealed") else None,
    )
    if conv.acting_for is not None:
        acting = proxy.acting_proxy(conv, ctx, Scope.APPEAL)
        return new_appeal(s, form, acting.student if acting else None, acting_for=acting is not None)
    bound = active_binding(s.db, s.account)
    return new_appeal(s, form, bound.student if bound is not None else None)


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


