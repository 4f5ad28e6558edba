"""Process-wide domain services, built once from the config and shared by every unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from bot.core.college import College
from bot.diploma.keyring import Keyring
from bot.platform.attachment_store import AttachmentStore, make_store
from bot.platform.crypto import PiiCipher, hmac_sm3
from bot.platform.mail import Mailer, make_mailer
from bot.platform.otp import OtpService
from bot.platform.signing import Sm2Signer
from bot.platform.sms import SmsProvider, make_provider
from models import utcnow


@dataclass
class Domain:
    """What flows and effects use beyond the SQL session."""

    cipher: PiiCipher
    otp: OtpService
    sms: SmsProvider
    push: Any  # (channel, app_id, user_key, replies) -> None
    forget_user: (
        Any  # (user tag, msg id to keep) -> None: what Redis holds of the user (删除我的信息)
    )
    signer: Sm2Signer  # the key that signs now (its fingerprint is printed on certificates)
    keyring: Keyring  # signs with it; verifies with whichever key a certificate names
    school: str
    public_url: str
    link_secret: str
    certificate_dir: str
    attachment_dir: str
    attachments: AttachmentStore
    fetch_media: Any  # (channel, app_id, media_id) -> bytes; raises on failure
    clock: Any = utcnow  # tests may replace it to move "today"
    college: College = field(default_factory=College)  # the office, campuses, sync rule
    mailer: Mailer | None = None  # e-mail notices (SMTP_HOST set); None: no e-mail
    notice_sms_per_day: int = 3  # ticket notices by SMS to one phone per day

    @classmethod
    def build(
        cls, config: dict, redis: Redis, push, forget_user, fetch_media, college: College
    ) -> Domain:
        """From GRADCERT_PII_KEYS, GRADCERT_INDEX_KEY and the SMS settings; `college`: the one
        College of the process (the reply book shows the same)."""
        cipher = PiiCipher.from_config(
            config["GRADCERT_PII_KEYS"],
            config["GRADCERT_INDEX_KEY"],
            config.get("GRADCERT_PII_SEAL_VERSION"),
        )
        signer = Sm2Signer(config["GRADCERT_SM2_PRIVATE_KEY"])
        otp_secret = hmac_sm3(config["GRADCERT_INDEX_KEY"].encode(), b"gradcert otp v1")
        return cls(
            cipher=cipher,
            otp=OtpService(redis, otp_secret),
            sms=make_provider(config),
            push=push,
            forget_user=forget_user,
            signer=signer,
            keyring=Keyring(signer, redis),
            school=config["GRADCERT_SCHOOL_NAME"],
            public_url=config["GRADCERT_PUBLIC_URL"],
            link_secret=config["GRADCERT_SECRET_KEY"],
            certificate_dir=config["GRADCERT_CERT_DIR"],
            attachment_dir=config["GRADCERT_ATTACHMENT_DIR"],
            attachments=make_store(config),
            fetch_media=fetch_media,
            college=college,
            mailer=make_mailer(config),
            notice_sms_per_day=int(config.get("SMS_NOTICE_PER_DAY") or 0),
        )
