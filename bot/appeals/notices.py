"""Telling people that a ticket changed: the effect every surface uses (console decisions, the
upkeep sweep, proxies), and the structured notice for channels that only send templates (the
mini-programs' subscribe and template messages), where the chat channels get a text.

When no channel reached anyone (what each channel's API answered: WeChat out of its 48-hour window,
no subscription, no Alipay form id), the change goes by SMS to the ticket's contact phone (the
ticket number only, within the phone's daily notice budget) and by e-mail to an address the filer
gave, when SMTP is set."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.appeals import rules
from bot.appeals.rules import STATUS_NAMES
from bot.core import keys
from bot.core.messages import Effect, Reply
from bot.platform.idcard import mask_phone
from bot.platform.mail import MailError
from bot.platform.ratelimit import RateLimit
from bot.platform.sms import SmsError
from bot.platform.workdays import local
from models import Appeal, AppealEvent, AppealEventKind, as_utc

log = logging.getLogger(__name__)
DAY = 86400


@dataclass(frozen=True)
class AppealNotice:
    """An appeal changed status; `note` is what staff wrote for the filer (may be empty)."""

    appeal_id: int
    ticket_no: str
    status: str
    status_name: str
    note: str
    changed_at_text: str  # Asia/Shanghai, "YYYY-MM-DD HH:MM"

    def summary(self, limit: int) -> str:
        """The note (or the status) cut to a template field's length."""
        text = self.note or f"申请状态：{self.status_name}"
        return text if len(text) <= limit else text[: limit - 1] + "…"


def appeal_notice(appeal: Appeal, note: str | None) -> AppealNotice:
    """The notice of the ticket's current status."""
    return AppealNotice(
        appeal_id=appeal.id,
        ticket_no=appeal.ticket_no,
        status=appeal.status,
        status_name=STATUS_NAMES.get(appeal.status, appeal.status),
        note=(note or "").strip(),
        changed_at_text=f"{local(as_utc(appeal.status_changed_at)):%Y-%m-%d %H:%M}",
    )


def tell_followers(s, payload: dict) -> None:
    """Effect: tell whoever follows the ticket that it changed: the filer (a proxy only while it
    may still act in appeals) and, for a ticket a proxy filed, the graduate. With `event_id` the
    message is that change's status and note, even when the ticket has moved on before this runs."""
    appeal = s.db.get(Appeal, payload["appeal_id"])
    if appeal is None:
        return
    event = s.db.get(AppealEvent, payload["event_id"]) if payload.get("event_id") else None
    note = event.note if event is not None else payload.get("note")
    changed = rules.as_changed(appeal, event)
    text, notice = (
        rules.status_message(changed, note, s.domain.college),
        appeal_notice(changed, note),
    )
    reached = False
    for account in rules.followers(s.db, appeal, s.now()):
        pushed = s.push(account.channel, account.app_id, account.user_key, [Reply(text)], notice)
        reached = pushed or reached
    if not reached:
        reach_otherwise(s, appeal, notice)


def reach_otherwise(s, appeal: Appeal, notice: AppealNotice) -> None:
    """No channel reached anyone: an SMS naming the ticket (within the phone's daily notice
    budget) and, when the filer gave an address and SMTP is set, an e-mail. What was sent is noted
    on the ticket's timeline for staff (internal), so they know whether to telephone."""
    cipher, version = s.cipher, appeal.pii_key_version
    done = []
    phone = cipher.open_or_none(appeal.contact_phone_enc, version, b"phone")
    if phone and not _within_budget(s, cipher.index("phone", phone)):
        done.append(f"今日短信通知已达上限，未发短信（{mask_phone(phone)}）")
    elif phone:
        try:
            s.domain.sms.send_notice(phone, "ticket_changed", [appeal.ticket_no])
            done.append(f"已发短信通知 {mask_phone(phone)}")
        except SmsError as problem:
            log.warning("notice SMS for %s not sent: %s", appeal.ticket_no, problem)
            done.append("短信通知发送失败")
    email = cipher.open_or_none(appeal.contact_email_enc, version, b"email")
    if email and s.domain.mailer is not None:
        subject = f"{s.domain.college.name}：申请 {appeal.ticket_no} 状态更新"
        body = (
            f"你的申请 {appeal.ticket_no} 状态更新：{notice.status_name}"
            f"（{notice.changed_at_text}）。\n详情请到公众号或小程序查看，回复4可查进度。"
        )
        try:
            s.domain.mailer.send(email, subject, body)
            done.append("已发邮件通知")
        except MailError as problem:
            log.warning("notice e-mail for %s not sent: %s", appeal.ticket_no, problem)
            done.append("邮件通知发送失败")
    s.db.add(
        AppealEvent(
            appeal_id=appeal.id,
            kind=AppealEventKind.NOTE,
            note=f"微信/小程序未能送达“{notice.status_name}”的通知；"
            + ("；".join(done) if done else "没有其他联系方式，请电话联系"),
            at=s.now(),
        )
    )


def _within_budget(s, phone_index: str) -> bool:
    """Count one notice against the phone's daily budget; False when it is spent."""
    budget = s.domain.notice_sms_per_day
    if budget <= 0:
        return False
    wait = RateLimit(s.redis, budget, DAY).hit(keys.phone_notices(phone_index))
    if wait:
        log.info("notice SMS budget of a phone spent for %d s", wait)
    return wait == 0


def ticket_changed(appeal_id: int, note: str | None = None, event_id: int | None = None) -> Effect:
    """The effect that tells a ticket's followers of one change (queued: it pushes). With `event_id`
    the note is read from that event, so staff's free text does not travel through the job queue."""
    return Effect(
        tell_followers,
        {"appeal_id": appeal_id, "note": None if event_id else note, "event_id": event_id},
        key=f"appeal:{appeal_id}:{event_id or ''}",
    )
