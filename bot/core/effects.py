"""Effects by name: what runs after a conversation step is committed, once per message.

Each effect takes the message's `Services` and the payload the flow gave it. Queued effects run
in an RQ worker; the others run in the web process right after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.core.messages import Reply
from bot.core.unit import Services

log = logging.getLogger(__name__)

EffectFn = Callable[[Services, dict], None]
EFFECTS: dict[str, EffectFn] = {}


def resolve(action: EffectFn | str) -> EffectFn:
    """The function of an effect."""
    return EFFECTS[action] if isinstance(action, str) else action


def effect(name: str) -> Callable[[EffectFn], EffectFn]:
    """Register an effect function under `name`."""

    def register(fn: EffectFn) -> EffectFn:
        EFFECTS[name] = fn
        return fn

    return register


@effect("account_subscribed")
def account_subscribed(services: Services, payload: dict) -> None:
    """The user followed the Official Account."""
    services.account.subscribed = True


@effect("account_unsubscribed")
def account_unsubscribed(services: Services, payload: dict) -> None:
    """The user unfollowed: we can no longer push to them."""
    services.account.subscribed = False


@effect("send_otp_sms")
def send_otp_sms(services: Services, payload: dict) -> None:
    """Send a code through the SMS provider; a failed send is refunded and the user told."""
    from bot.binding.rules import phone_of
    from bot.platform.otp import CODE_TTL
    from bot.platform.sms import SmsError
    from models import OtpEvent, OtpEventKind, Student

    student = services.db.get(Student, payload["student_id"])
    phone = phone_of(services.cipher, student)
    code = services.cipher.open_text(payload["code"])
    event = OtpEvent(account_id=services.account.id, student_id=student.id, purpose=payload["purpose"])
    try:
        services.sms.send_code(phone, code, CODE_TTL // 60)
        event.kind = OtpEventKind.SENT
    except SmsError as exc:
        log.warning("SMS send failed (%s); refunded", exc)
        event.kind = OtpEventKind.SEND_FAILED
        services.otp.refund(services.msg.user_tag, services.cipher.index("phone", phone))
        msg = services.msg
        services.push(msg.channel, msg.app_id, msg.user_key, [Reply(services.book.render("sms/failed"))])
    services.db.add(event)


@effect("notify_displaced")
def notify_displaced(services: Services, payload: dict) -> None:
    """Tell accounts that lost a student to a newer binding."""
    from bot.platform import idcard
    from models import Account, Student

    student = services.db.get(Student, payload["student_id"])
    text = services.book.render(
        "binding/displaced", name=idcard.mask_name(student.name), student_no=idcard.mask_student_no(student.student_no)
    )
    for account_id in payload["account_ids"]:
        account = services.db.get(Account, account_id)
        if account is not None:
            services.push(account.channel, account.app_id, account.user_key, [Reply(text)])


@effect("forget_user")
def forget_user(services: Services, payload: dict) -> None:
    """删除我的信息: what Redis holds of the user (conversation, cached replies, sessions, codes);
    not the abuse counters, or deleting would reset the limits on guessing identities and codes."""
    tag = services.msg.user_tag
    services.domain.forget_user(tag, services.msg.msg_id)
    services.otp.forget(tag)


@effect("render_certificate")
def render_certificate(services: Services, payload: dict) -> None:
    """Render a certificate's PDF ahead of its first download."""
    from bot.diploma.files import store_pdf
    from models import Certificate

    cert = services.db.get(Certificate, payload["certificate_id"])
    if cert is not None:
        store_pdf(services.domain, cert)
        cert.pdf_ready_at = services.now()


@effect("fetch_attachment")
def fetch_attachment(services: Services, payload: dict) -> None:
    """Download a photo sent for an appeal and store it (or record why it was refused)."""
    from bot.platform.attachments import store
    from models import Attachment, AttachmentState

    attachment = services.db.get(Attachment, payload["attachment_id"])
    if attachment is None or attachment.state != AttachmentState.PENDING:
        return
    msg = services.msg
    try:
        data = services.domain.fetch_media(msg.channel, msg.app_id, attachment.media_id)
    except Exception as exc:  # the media API failed or the file expired: staff see the reason
        log.warning("attachment %s download failed: %s", attachment.id, type(exc).__name__)
        attachment.state, attachment.error = AttachmentState.REJECTED, "download failed"
        return
    store(attachment, data, services.domain.attachments)  # refused or failed: the attachment says why


@effect("push_accounts")
def push_accounts(services: Services, payload: dict) -> None:
    """A message to other accounts (a graduate about their proxy, a proxy about a decision)."""
    from models import Account

    for account_id in payload["account_ids"]:
        account = services.db.get(Account, account_id)
        if account is not None:
            services.push(account.channel, account.app_id, account.user_key, [Reply(payload["text"])])


@effect("push_text")
def push_text(services: Services, payload: dict) -> None:
    """One text to one user of a channel (staff decisions about proxies)."""
    services.push(payload["channel"], payload["app_id"], payload["user_key"], [Reply(payload["text"])])
