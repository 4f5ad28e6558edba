"""Filing an appeal from a finished form (the mini-program API), with the rules the chat's appeal
flow applies step by step: at most 3 open tickets, the category's required photos, the claimed
identity sealed when the account is not bound, the contact phone sealed; photos checked and
stored like chat photos (bot.platform.attachments)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from bot.appeals import rules as appeals
from bot.binding.rules import active_binding
from bot.platform.attachments import MAX_BYTES, sniff, store
from models import Appeal, Attachment, Proxy, Student


class IntakeRefused(Exception):
    """The form cannot be filed: `reason` is a stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class AppealForm:
    """What the filer gave: everything the chat collects, in one go."""

    category: str
    description: str
    contact_phone: str
    urgent_deadline: date | None = None
    claimed_name: str | None = None
    claimed_id: str | None = None
    claimed_student_no: str | None = None
    photos: list[bytes] = field(default_factory=list)


def check_photo(data: bytes) -> str | None:
    """Why a photo cannot be taken (`too_large`, `not_an_image`), or None."""
    if len(data) > MAX_BYTES:
        return "too_large"
    if sniff(data) is None:
        return "not_an_image"
    return None


def file_form(s, form: AppealForm, acting: Proxy | None = None) -> Appeal:
    """File the ticket with its photos (for the graduate an active proxy acts for, when given);
    raises IntakeRefused."""
    category = appeals.BY_KEY.get(form.category)
    if category is None:
        raise IntakeRefused("unknown_category")
    if appeals.open_count(s.db, s.account.id, s.now()) >= appeals.MAX_OPEN:
        raise IntakeRefused("too_many_open")
    if category.needs and not form.photos:
        raise IntakeRefused("photos_required")
    bound = active_binding(s.db, s.account)
    if acting is None and bound is None and not form.claimed_id:
        raise IntakeRefused("identity_required")
    if acting is not None:
        appeal = new_appeal(s, form, acting.student, acting_for=True)
    else:
        appeal = new_appeal(s, form, bound.student if bound is not None else None)
    appeals.file_appeal(s.db, appeal, s.now())
    for data in form.photos:
        add_photo(s, appeal, data)
    s.audit("file_appeal", appeal.student_id,
            detail=f"{appeal.ticket_no} proxy:{acting.id}" if acting is not None else appeal.ticket_no)
    return appeal


def new_appeal(s, form: AppealForm, student: Student | None, acting_for: bool = False) -> Appeal:
    """An unsaved ticket from a finished form, for `student` (the filer's own record, or the
    graduate a proxy acts for), with the claimed identity and the contact phone sealed."""
    phone_enc, version = s.cipher.seal(form.contact_phone, b"phone")
    appeal = Appeal(account_id=s.account.id, category=form.category, description=form.description,
                    contact_phone_enc=phone_enc, pii_key_version=version, urgent=form.urgent_deadline is not None,
                    urgent_deadline=form.urgent_deadline)
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
    attachment = Attachment(appeal_id=appeal.id if appeal else None, proxy_id=proxy.id if proxy else None,
                            media_id=f"upload:{hashlib.sha256(data).hexdigest()[:32]}")
    s.db.add(attachment)
    s.db.flush()
    store(attachment, data, s.domain.attachments)
    return attachment


def add_information(s, appeal: Appeal, note: str, photos: list[bytes]) -> None:
    """Text and/or photos added by whoever follows the ticket; a ticket waiting for them goes back
    to review. Raises appeals.TransitionNotAllowed when the ticket closed meanwhile (nothing added)."""
    appeals.lock_open(s.db, appeal)
    for data in photos:
        add_photo(s, appeal, data)
    if photos:
        note = (note + " " if note else "") + f"（补充了{len(photos)}张照片）"
    appeals.add_information(s.db, appeal, s.account.id, note, s.now())
    s.audit("appeal_info", appeal.student_id, detail=appeal.ticket_no)
