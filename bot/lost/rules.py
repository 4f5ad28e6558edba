"""A lost certificate (证书遗失): the request for a 学历证明书 in its place, which the chat's script
collects step by step and the mini-program API takes as one form. The graduate asks for themselves
(bound: the record is theirs; a proxy is told to let the graduate ask), with the photos the college
needs (ID card, a signed statement), an optional urgent date (a study-abroad deadline), pickup at
the office or post (the address sealed) and the fee the college's settings name.

The ticket is an appeal of the `lost_certificate` category (bot.appeals.rules.LOST): numbered,
due, moved by staff and told to the filer by the appeals' own lifecycle and notices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.appeals import intake
from bot.appeals import rules as appeals
from bot.appeals.intake import Filed
from bot.binding.rules import active_binding
from bot.core.college import College
from bot.core.replies import Refused
from bot.platform.crypto import PiiCipher
from models import Appeal, Delivery, LostCertificate

ADDRESS_SHORTEST = 8
ADDRESS_LONGEST = 120
PURPOSE_LONGEST = 30
NOT_BOUND = Refused("not_bound", "lost/not_bound")
FOR_THE_GRADUATE = Refused("graduate_only", "lost/graduate_only")
ADDRESS_REQUIRED = Refused("address_required", "lost/ask_address")
BAD_ADDRESS = Refused("bad_address", "lost/bad_address")


@dataclass
class LostForm:
    """What the graduate gave: photos as bytes (the API) or the channel's media ids (the chat)."""

    delivery: Delivery
    contact_phone: str
    address: str | None = None
    urgent_deadline: date | None = None
    purpose: str | None = None
    email: str | None = None
    photos: list[bytes] = field(default_factory=list)
    media_ids: list[str] = field(default_factory=list)


def may_ask(s, acting_for: int | None) -> Refused | None:
    """Only a bound graduate asks for their own 学历证明书 (it replaces their certificate), and only
    while they have fewer than MAX_OPEN open tickets."""
    if acting_for is not None:
        return FOR_THE_GRADUATE
    if active_binding(s.db, s.account) is None:
        return NOT_BOUND
    return intake.too_many_open(s)


def address_problem(address: str | None) -> Refused | None:
    """A postal address must be given, and be a whole one (8 to 120 characters)."""
    if not address:
        return ADDRESS_REQUIRED
    if not ADDRESS_SHORTEST <= len(address) <= ADDRESS_LONGEST:
        return BAD_ADDRESS
    return None


def fee_text(college: College) -> str:
    """What it costs and how to pay, or empty when the college charges nothing."""
    fee = college.lost_certificate_fee
    return f"费用{fee}元，请到{college.visit}现场缴纳（不在网上收费）。" if fee else ""


def file_request(s, form: LostForm, submission_key: str | None = None) -> Filed:
    """File the request with its photos (the same ticket again for a submission filed already)."""
    if submission_key is not None:
        filed = s.db.scalar(select(Appeal).where(Appeal.submission_key == submission_key))
        if filed is not None:
            return Filed(filed)
    refused = (
        may_ask(s, None)
        or intake.photos_missing(appeals.LOST.key, len(form.photos) + len(form.media_ids))
        or (address_problem(form.address) if form.delivery is Delivery.POST else None)
    )
    if form.urgent_deadline is not None and intake.deadline_passed(form.urgent_deadline, s.now()):
        refused = refused or intake.DEADLINE_PASSED
    if refused is not None:
        return Filed(refused=refused)
    student = active_binding(s.db, s.account).student
    ticket = intake.new_appeal(
        s,
        intake.AppealForm(
            category=appeals.LOST.key,
            description=_description(form),
            contact_phone=form.contact_phone,
            urgent_deadline=form.urgent_deadline,
        ),
        student,
    )
    ticket.submission_key = submission_key
    if form.email:
        ticket.contact_email_enc, _ = s.cipher.seal(form.email, b"email")
    appeals.file_appeal(s.db, ticket, s.now())
    lost = LostCertificate(
        appeal_id=ticket.id,
        delivery=form.delivery,
        purpose=(form.purpose or None),
        fee_yuan=s.domain.college.lost_certificate_fee,
        created_at=s.now(),
    )
    if form.delivery is Delivery.POST:
        lost.address_enc, lost.pii_key_version = s.cipher.seal(form.address, b"address")
    s.db.add(lost)
    effects = intake.add_media(s, ticket, form.media_ids)
    for data in form.photos:
        intake.add_photo(s, ticket, data)
    s.audit("file_lost_certificate", ticket.student_id, detail=ticket.ticket_no)
    return Filed(ticket, effects=effects)


def _description(form: LostForm) -> str:
    how = "邮寄" if form.delivery is Delivery.POST else "到学校自取"
    purpose = f"，用途：{form.purpose}" if form.purpose else ""
    return f"证书遗失，申请补办学历证明书；领取方式：{how}{purpose}。"


def of(db: Session, appeal: Appeal) -> LostCertificate | None:
    """The lost-certificate details of a ticket (None for an appeal)."""
    if appeal.category != appeals.LOST.key:
        return None
    return db.scalar(select(LostCertificate).where(LostCertificate.appeal_id == appeal.id))


def address_of(cipher: PiiCipher, lost: LostCertificate, reveal: bool) -> str:
    """The postal address: masked (its first 6 characters) unless `reveal`; `—` for pickup."""
    if lost.delivery is not Delivery.POST or lost.address_enc is None:
        return "—"
    address = cipher.open_or_none(lost.address_enc, lost.pii_key_version, b"address") or ""
    return address if reveal else mask_address(address)


def mask_email(email: str | None) -> str | None:
    """`z***@example.com`: enough to spot a typo in the domain, not the name."""
    if not email:
        return None
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


def mask_address(address: str) -> str:
    """`四川省成都市****`: where it goes, not who lives there."""
    return address[:6] + "****" if len(address) > 6 else "****"
