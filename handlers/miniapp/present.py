"""How the API shows domain objects (masked, as JSON) and refusals (in the words of the reply
templates, as the chat says them), and small per-user API state in Redis."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import object_session

from bot.appeals import rules as appeals
from bot.core import keys
from bot.core.replies import Refused
from bot.diploma import certificates
from bot.diploma.rules import code_is_fresh
from bot.lost import rules as lost
from bot.lost.staff import DELIVERY_LABELS
from bot.platform import idcard
from handlers.current import runtime
from handlers.miniapp.errors import ApiError
from models import (
    OPEN_STATUSES,
    Appeal,
    AppealEventKind,
    AppealStatus,
    Binding,
    Certificate,
    Delivery,
    Student,
    as_utc,
)

PENDING_TTL = 1800


def when(moment: datetime | None) -> str | None:
    """A stored time as ISO 8601 UTC."""
    return as_utc(moment).replace(microsecond=0).isoformat() if moment else None


def day(value: date | None) -> str | None:
    """A date as YYYY-MM-DD."""
    return value.isoformat() if value else None


def binding_json(binding: Binding, now: datetime) -> dict:
    """The binding as its owner sees it (masked)."""
    student = binding.student
    return {
        "name_masked": idcard.mask_name(student.name),
        "student_no_masked": idcard.mask_student_no(student.student_no),
        "bound_at": when(binding.created_at),
        "verified_at": when(binding.verified_at),
        "verification_fresh": code_is_fresh(binding, now),
    }


def certificate_json(cert: Certificate, now: datetime) -> dict:
    """A certificate as its holder sees it."""
    return {
        "code": cert.code,
        "status": certificates.status(cert, now).value,
        "issued_at": when(cert.issued_at),
        "valid_until": when(cert.valid_until),
        "closed_at": when(cert.closed_at),
        "verify_url_path": f"/v/{cert.code}",
    }


def appeal_summary(appeal: Appeal) -> dict:
    """One line of the appeal list."""
    category = appeals.BY_KEY.get(appeal.category)
    return {
        "ticket_no": appeal.ticket_no,
        "category": appeal.category,
        "category_label": category.label if category else appeal.category,
        "status": appeal.status,
        "status_label": appeals.STATUS_NAMES.get(appeal.status, appeal.status),
        "open": appeal.status in OPEN_STATUSES,
        "due_date": day(appeal.due_date),
        "created_at": when(appeal.created_at),
    }


def appeal_detail(appeal: Appeal) -> dict:
    """A ticket with its history (staff-internal notes left out) and its photos' states."""
    events = [
        {
            "at": when(e.at),
            "kind": e.kind,
            "status": e.to_status,
            "status_label": appeals.STATUS_NAMES.get(e.to_status) if e.to_status else None,
            "note": e.note if e.kind in (AppealEventKind.INFO, AppealEventKind.STATUS) else None,
        }
        for e in appeal.events
        if e.kind is not AppealEventKind.NOTE
    ]
    route = (
        appeals.next_route_text(appeal.next_route or "", runtime().domain.college)
        if appeal.status is AppealStatus.REJECTED
        else None
    )
    return {
        **appeal_summary(appeal),
        "description": appeal.description,
        "urgent": appeal.urgent,
        "urgent_deadline": day(appeal.urgent_deadline),
        "resolution": appeal.resolution,
        "next_route": route,
        "events": events,
        "photos": [{"id": a.id, "state": a.state} for a in appeal.attachments],
        "lost": _lost(appeal),
    }


def _lost(appeal: Appeal) -> dict | None:
    """A lost-certificate ticket's delivery and fee (the address masked); None for an appeal."""
    details = lost.of(object_session(appeal), appeal)
    if details is None:
        return None
    return {
        "delivery": details.delivery,
        "delivery_label": DELIVERY_LABELS[Delivery(details.delivery)],
        "address": lost.address_of(runtime().domain.cipher, details, reveal=False),
        "fee_yuan": details.fee_yuan,
    }


def refusal(refused: Refused, status: int, *, retry_after: int | None = None, **extra) -> ApiError:
    """The ApiError of a refusal: its stable code, and the reply template's sentence, rendered for the
    API (the chat's own instructions left out) so that it says what the chat says."""
    message = runtime().book.render(refused.template, surface="api", **refused.values)
    return ApiError(status, refused.code, message, retry_after=retry_after, **extra)


def _pending_key(s) -> str:
    return keys.pending_bind(s.msg.user_tag)


def pending_student(s) -> Student | None:
    """The student a binding in progress waits for a code for."""
    raw = s.redis.get(_pending_key(s))
    return s.db.get(Student, int(raw)) if raw else None


def set_pending_student(s, student: Student | None) -> None:
    """Remember (or forget) the student of the binding in progress."""
    if student is None:
        s.redis.delete(_pending_key(s))
    else:
        s.redis.set(_pending_key(s), student.id, ex=PENDING_TTL)
