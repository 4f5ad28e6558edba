"""Filing an appeal, and adding information to one: the rules the chat's appeal script applies step
by step and the mini-program API applies to a finished form. At most 3 open tickets, the category's
required photos, the claimed identity when the account is not bound (a proxy files for the graduate
they act for, and gives their own phone), a description of 4 to 500 characters, a deadline not yet
passed; the claimed identity and the contact phone sealed; photos checked and stored like chat
photos (bot.platform.attachments). Who is told of a proxy's filing and what the audit trail says
are decided here too. A refusal is a `Refused`: the API's code and the reply that words it on every
surface."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from bot.appeals import rules as appeals
from bot.binding.rules import active_binding, phone_of
from bot.core.messages import Effect, Reply
from bot.core.replies import Refused
from bot.platform.attachments import MAX_BYTES, fetch_attachment, sniff, store
from bot.platform.workdays import today_in_china
from bot.proxies.rules import audit_detail, told_graduate
from bot.understand import mask_personal
from models import (
    OPEN_STATUSES,
    Appeal,
    AppealStatus,
    Attachment,
    AttachmentState,
    Proxy,
    Student,
)

MAX_PHOTOS = 9
MIN_DESCRIPTION = 4
UNKNOWN_CATEGORY = Refused("unknown_category", "appeal/unknown_category")
IDENTITY_REQUIRED = Refused("identity_required", "appeal/identity_required")
DEADLINE_PASSED = Refused("deadline_passed", "appeal/deadline_passed")
# what text.read_phone did not read as a mobile
BAD_PHONE = Refused("bad_phone", "appeal/bad_phone")
CLOSED = Refused("appeal_closed", "appeal/closed")


@dataclass
class AppealForm:
    """What the filer gave: everything the chat collects, in one go. Photos come as bytes (the
    API) or as media ids of the channel, fetched after the commit (the chat)."""

    category: str
    description: str
    contact_phone: str
    urgent_deadline: date | None = None
    claimed_name: str | None = None
    claimed_id: str | None = None
    claimed_student_no: str | None = None
    photos: list[bytes] = field(default_factory=list)
    media_ids: list[str] = field(default_factory=list)


@dataclass
class Filed:
    """The ticket filed (or found filed already for this submission), or why not, and the effects
    to run after the commit."""

    appeal: Appeal | None = None
    refused: Refused | None = None
    effects: list[Effect] = field(default_factory=list)


def too_many_open(s) -> Refused | None:
    """The account follows MAX_OPEN open tickets already: no new one until they are done."""
    if appeals.open_count(s.db, s.account.id, s.now()) < appeals.MAX_OPEN:
        return None
    return Refused("too_many_open", "appeal/too_many", {"limit": appeals.MAX_OPEN})


def photos_missing(category: str, count: int) -> Refused | None:
    """The category needs a document as photos and none were given."""
    needs = appeals.BY_KEY[category].needs
    return (
        Refused("photos_required", "appeal/photos_required", {"needs": needs})
        if needs and not count
        else None
    )


def needs_identity(s, acting: Proxy | None) -> bool:
    """The filer must say who they are: not bound, and not acting for a graduate."""
    return acting is None and active_binding(s.db, s.account) is None


def description_problem(said: str) -> Refused | None:
    """A tidied description that is too short (under 4 characters) or too long (over 500)."""
    if len(said) < MIN_DESCRIPTION:
        return Refused("description_short", "appeal/description_short")
    if len(said) > appeals.DESCRIPTION_LIMIT:
        return Refused(
            "description_long",
            "appeal/description_long",
            {"limit": appeals.DESCRIPTION_LIMIT, "length": len(said)},
        )
    return None


def deadline_passed(deadline: date, now: datetime) -> bool:
    """An urgent deadline must be today or later (Asia/Shanghai)."""
    return deadline < today_in_china(now)


def phone_on_file(s, acting: Proxy | None) -> str | None:
    """The registrar's phone of the filer's own record; None for a proxy (they give their own)."""
    if acting is not None:
        return None
    bound = active_binding(s.db, s.account)
    return phone_of(s.cipher, bound.student) if bound else None


def check_photo(data: bytes) -> str | None:
    """Why a photo cannot be taken (`too_large`, `not_an_image`), or None."""
    if len(data) > MAX_BYTES:
        return "too_large"
    if sniff(data) is None:
        return "not_an_image"
    return None


def file_form(
    s, form: AppealForm, acting: Proxy | None = None, submission_key: str | None = None
) -> Filed:
    """File the ticket with its photos, for the graduate an active proxy acts for when given (the
    graduate is told); the same ticket again for a submission filed already (its reply was lost)."""
    if submission_key is not None:
        filed = s.db.scalar(select(Appeal).where(Appeal.submission_key == submission_key))
        if filed is not None:
            return Filed(filed)
    refused = _refusal(s, form, acting)
    if refused is not None:
        return Filed(refused=refused)
    bound = active_binding(s.db, s.account)
    student = (
        acting.student if acting is not None else (bound.student if bound is not None else None)
    )
    appeal = new_appeal(s, form, student, acting_for=acting is not None)
    appeal.submission_key = submission_key
    appeals.file_appeal(s.db, appeal, s.now())
    effects = add_media(s, appeal, form.media_ids)
    for data in form.photos:
        add_photo(s, appeal, data)
    s.audit("file_appeal", appeal.student_id, detail=audit_detail(acting, appeal.ticket_no))
    return Filed(appeal, effects=effects + told_graduate(s, acting, "提交了异议申请"))


def _refusal(s, form: AppealForm, acting: Proxy | None) -> Refused | None:
    if form.category not in appeals.CAUSES:  # a lost certificate has its own form (bot/lost)
        return UNKNOWN_CATEGORY
    refused = too_many_open(s) or photos_missing(
        form.category, len(form.photos) + len(form.media_ids)
    )
    if refused is None and needs_identity(s, acting) and not form.claimed_id:
        return IDENTITY_REQUIRED
    return refused


def new_appeal(s, form: AppealForm, student: Student | None, acting_for: bool = False) -> Appeal:
    """An unsaved ticket from a finished form, for `student` (the filer's own record, or the
    graduate a proxy acts for), with the claimed identity and the contact phone sealed."""
    phone_enc, version = s.cipher.seal(form.contact_phone, b"phone")
    appeal = Appeal(
        account_id=s.account.id,
        category=form.category,
        description=mask_personal(form.description),
        contact_phone_enc=phone_enc,
        pii_key_version=version,
        urgent=form.urgent_deadline is not None,
        urgent_deadline=form.urgent_deadline,
    )
    if student is not None:
        appeal.student_id, appeal.campus = student.id, student.campus
        if acting_for:
            appeal.acting_for_student_id = student.id
    if form.claimed_id:
        appeal.claimed_name, appeal.claimed_student_no = form.claimed_name, form.claimed_student_no
        appeal.claimed_id_enc, _ = s.cipher.seal(form.claimed_id, b"id")
    return appeal


def add_photo(s, appeal: Appeal | None, data: bytes, proxy: Proxy | None = None) -> Attachment:
    """Store an uploaded photo on a ticket, or on a proxy request (checked as chat photos are)."""
    attachment = Attachment(
        appeal_id=appeal.id if appeal else None,
        proxy_id=proxy.id if proxy else None,
        media_id=f"upload:{hashlib.sha256(data).hexdigest()[:32]}",
    )
    s.db.add(attachment)
    s.db.flush()
    store(attachment, data, s.domain.attachments)
    return attachment


def add_information(
    s, appeal: Appeal, note: str, photos: list[bytes] = (), media_ids: list[str] = ()
) -> list[Effect]:
    """Text and/or photos added by whoever follows the ticket; a ticket waiting for them goes back
    to review. Raises appeals.TransitionNotAllowed when the ticket closed meanwhile (nothing added)."""
    appeals.lock_open(s.db, appeal)
    effects = add_media(s, appeal, media_ids)
    for data in photos:
        add_photo(s, appeal, data)
    count = len(photos) + len(media_ids)
    if count:
        note = (note + " " if note else "") + f"（补充了{count}张照片）"
    appeals.add_information(s.db, appeal, s.account.id, mask_personal(note), s.now())
    s.audit("appeal_info", appeal.student_id, detail=appeal.ticket_no)
    return effects


def add_media(s, appeal: Appeal, media_ids: list[str]) -> list[Effect]:
    """Photos sent in the chat: recorded now, fetched from the channel after the commit (one
    effect for the message's photos, so the sender hears once of those that could not be used)."""
    ids = []
    for media_id in media_ids:
        attachment = Attachment(appeal_id=appeal.id, media_id=media_id)
        s.db.add(attachment)
        s.db.flush()
        ids.append(attachment.id)
    if not ids:
        return []
    return [Effect(fetch_photos, {"attachment_ids": ids}, key=f"photos:{ids[0]}")]


def fetch_photos(s, payload: dict) -> None:
    """Effect: download a ticket's chat photos. Those that cannot be used (the download failed,
    or not a JPEG/PNG) are not counted as received: the ticket waits for them again (need more
    information, so the next photo the sender sends is added to it) and the sender is told, by
    push, to send them again."""
    failed = []
    for attachment_id in payload["attachment_ids"]:
        fetch_attachment(s, {"attachment_id": attachment_id})
        attachment = s.db.get(Attachment, attachment_id)
        if attachment is not None and attachment.state == AttachmentState.REJECTED:
            failed.append(attachment)
    if not failed or s.msg is None:
        return
    appeal = s.db.get(Appeal, failed[0].appeal_id)
    if appeal is None or appeal.status not in OPEN_STATUSES:
        return
    needs = appeals.BY_KEY[appeal.category].needs
    if appeal.status != AppealStatus.NEED_MORE_INFO:
        appeals.change_status(
            s.db,
            appeal,
            AppealStatus.NEED_MORE_INFO,
            f"{len(failed)}张照片没能收到，请重新发送" + (f"：{needs}" if needs else ""),
            now=s.now(),
        )
    text = s.book.render(
        "appeal/photos_unusable",
        ticket=appeal.ticket_no,
        count=len(failed),
        needs=needs,
        downloaded=all(a.error != "download failed" for a in failed),
    )
    s.push(s.msg.channel, s.msg.app_id, s.msg.user_key, [Reply(text)])
