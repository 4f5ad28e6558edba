"""Wiring of one process: the Redis client, the database, the job queue, the channels and the
engine; the one way to open a unit of work, to run effects once, and to reach a user.

Every surface reaches this through `handlers.current.runtime()`: the engine (chat), the mini-program API, the staff
console, the RQ jobs and the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis as redis_lib
from rq import Queue

from bot.appeals.notices import AppealNotice
from bot.core import keys
from bot.core.accounts import track_profile_changes
from bot.core.college import College
from bot.core.domain import Domain
from bot.core.engine import Engine, EngineHooks
from bot.core.messages import Effect, Inbound, Reply
from bot.core.replies import ReplyBook
from bot.core.state import RedisStorage, forget_profiles
from bot.core.unit import Services
from bot.diploma.lookups import PublicLookups, certificates_changed, track_certificate_changes
from bot.platform.workdays import entered_years, use_calendar, use_entered_years
from bot.router import route
from handlers import jobs, metrics, redis_client
from handlers.channels.alipay_api import AlipayChannel
from handlers.channels.wechat_api import WeChatChannel
from handlers.channels.wxa_api import MiniProgramChannel
from handlers.miniapp.sessions import SessionStore
from models import make_engine, make_session_factory

log = logging.getLogger(__name__)
QUEUE = "gradcert"


def connect_redis(url: str | None, instance_path: str) -> redis_lib.Redis:
    """A client for REDIS_URL (one server or Sentinel), or the embedded redis-server."""
    return redis_client.connect(url, instance_path)


@dataclass
class Runtime:
    """The per-process objects every surface shares (app.extensions['gradcert'])."""

    config: dict
    redis: redis_lib.Redis
    db_engine: object
    sessions: object  # the SQLAlchemy session factory (read-only pages and batch commands)
    queue: Queue
    storage: RedisStorage
    book: ReplyBook
    channels: dict = field(default_factory=dict)  # "wx" | "wxa" | "alipay" -> channel object
    engine: Engine | None = None
    domain: Domain | None = None
    lookups: PublicLookups | None = None  # the verification page's (remembered, counted)

    @classmethod
    def build(cls, config: dict, instance_path: str) -> Runtime:
        """Connect everything according to `config`."""
        use_calendar(config.get("GRADCERT_HOLIDAYS_FILE"))
        redis = connect_redis(config.get("REDIS_URL"), instance_path)
        db_engine = make_engine(config["DATABASE_URL"])
        sessions = make_session_factory(db_engine)
        # a commit that changes a binding invalidates the cached profiles it changed
        track_profile_changes(sessions, lambda tags: forget_profiles(redis, tags))
        # and one that changes a certificate or a diploma, the verification page's answers
        track_certificate_changes(sessions, lambda: certificates_changed(redis))
        rt = cls(
            config=dict(config),
            redis=redis,
            db_engine=db_engine,
            sessions=sessions,
            queue=Queue(QUEUE, connection=redis),
            storage=metrics.MeasuredStorage(redis, idle_ttl=int(config["GRADCERT_IDLE_TTL"])),
            book=ReplyBook(college=College.from_config(config)),
        )
        use_entered_years(
            entered_years(rt.sessions), float(config.get("GRADCERT_CALENDAR_CACHE_SECONDS", 30))
        )
        rt.channels = {
            c.name: c
            for c in (
                WeChatChannel(rt.config, redis),
                MiniProgramChannel(rt.config, redis),
                AlipayChannel(rt.config, redis),
            )
        }
        rt.domain = Domain.build(
            rt.config, redis, rt.push_to, rt.forget_user, rt.fetch_media, rt.book.college
        )
        rt.lookups = PublicLookups(redis, rt.domain.keyring)
        rt.domain.sms = metrics.CountedSms(rt.domain.sms, str(config.get("SMS_PROVIDER")))
        hooks = EngineHooks(
            open_unit=rt.open_unit,
            run_effects=rt.run_effects,
            deliver_later=metrics.counting_overruns(rt.deliver_later),
        )
        rt.engine = Engine(
            rt.storage, route, hooks, rt.book, deadline=float(config["GRADCERT_DEADLINE"])
        )
        try:  # mark when Redis' data began, before any account is made (bot.core.engine: lost)
            rt.storage.data_since()
        except redis_lib.RedisError:
            log.warning("Redis unreachable at start")
        return rt

    # -- the unit of work ------------------------------------------------------------------------
    def open_unit(self, msg: Inbound | None = None) -> Services:
        """A unit of work with a fresh SQL session, for one message (or a staff action / job)."""
        return Services(
            sessions=self.sessions,
            redis=self.redis,
            domain=self.domain,
            book=self.book,
            config=self.config,
            msg=msg,
        )

    @contextmanager
    def unit(
        self, msg: Inbound | None = None, *, commit_on: tuple[type[BaseException], ...] = ()
    ) -> Iterator[Services]:
        """Open a unit of work, commit it at the end (also when one of `commit_on` is raised: an
        answer, not a failure), roll it back on anything else; then run its effects once."""
        s = self.open_unit(msg)
        try:
            yield s
            s.commit()
        except commit_on:
            s.commit()
            self.run_effects(msg, s.effects)
            raise
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()
        self.run_effects(msg, s.effects)

    # -- effects: once per (message, effect) -------------------------------------------------------
    def run_effects(self, msg: Inbound | None, todo: list[Effect]) -> None:
        """Run or queue effects after the commit, each once per message id (staff actions and jobs,
        which have no message, run theirs once as they come). A failed effect is logged: what it
        follows is committed."""
        for effect in todo:
            try:
                if msg is not None and not self.storage.claim_effect(
                    msg.user_tag, msg.msg_id, effect.claim
                ):
                    continue
                if effect.queued:
                    jobs.enqueue(
                        self.queue,
                        jobs.run_effect,
                        effect.action,
                        effect.payload,
                        msg.for_job() if msg else None,
                        job_timeout=120,
                        retry=jobs.retried(effect.action),
                    )
                else:
                    self.run_effect(effect, msg)
            except Exception:
                log.exception(
                    "effect %s of %s failed", effect.name, msg.msg_id if msg else "a staff action"
                )

    def run_effect(self, effect: Effect, msg: Inbound | None) -> None:
        """Run one effect now, in its own unit of work."""
        s = self.open_unit(msg)
        try:
            effect.action(s, effect.payload)
            s.commit()
        except Exception:
            s.rollback()
            raise
        finally:
            s.close()

    def deliver_later(self, msg: Inbound, replies: list[Reply]) -> None:
        """Replies that missed the callback go out through the channel's push API (queued)."""
        jobs.enqueue(
            self.queue,
            jobs.push_replies,
            msg.for_job(),
            [r.to_dict() for r in replies],
            job_timeout=60,
            retry=True,
        )

    # -- reaching users ----------------------------------------------------------------------------
    def push_to(
        self,
        channel: str,
        app_id: str,
        user_key: str,
        replies: list[Reply],
        notice: AppealNotice | None = None,
    ) -> bool:
        """Send replies to any user of any channel now: the one channel-neutral push. Channels that
        only send templates (the mini-programs) send the appeal `notice` when there is one. True
        when the channel reached the person (what its API answered)."""
        target = self.channels.get(channel)
        if target is None:
            log.warning("no push channel for %s; %d replies dropped", channel, len(replies))
            return False
        return bool(target.push(app_id, user_key, replies, notice))

    def fetch_media(self, channel: str, app_id: str, media_id: str) -> bytes:
        """The bytes of a photo a user sent; LookupError where the channel has no media API."""
        fetch = getattr(self.channels.get(channel), "fetch_media", None)
        if fetch is None:
            raise LookupError(f"no media API for {channel}")
        return fetch(app_id, media_id)

    def forget_user(self, tag: str, keep_msg_id: str | None = None) -> None:
        """删除我的信息: what Redis holds of this user: the conversation and its cached replies,
        every mini-program session, API answers kept for Idempotency-Key replays and a binding in
        progress. Abuse counters (mismatches, wrong codes, cooldowns) stay until they expire."""
        self.storage.clear(tag, keep_msg_id)
        SessionStore(self.redis).revoke_all(tag)
        for part in ("idem", "api"):
            for key in self.redis.scan_iter(match=keys.user_pattern(tag, part), count=500):
                self.redis.delete(key)

    def wechat_client(self):
        """The Official Account's API client (token shared in Redis)."""
        return self.channels["wx"].client()

    def wxa_client(self):
        """The mini-program's API client (its own app id; token shared in Redis)."""
        return self.channels["wxa"].client()

    def alipay_client(self):
        """The Alipay gateway client, or None while the Alipay channel is not configured."""
        return self.channels["alipay"].client()
