"""The conversation engine: one inbound message in, the replies out, with the guarantees of
DESIGN.md section 1.

1. dedup on (user, msg_id): a retry gets the cached replies of the first delivery
2. a per-user lock (Redis, owner token): one message of a user at a time, across processes
3. load the versioned state and the cached profile  4. route to the flow  5. commit the SQL
   session, then the state (compare-and-set) with the reply cache  6. run the effects once
   7. release the lock

Two Redis round trips per message: 1-3 with the callback's nonce in one script
(`RedisStorage.begin`), 5 and 7 in another (`RedisStorage.commit`); a retry of an answered message
takes one. The claim and the lock are leases of a few seconds, renewed while this process works on
the message, so that a retry can take over from a worker that died.

The step runs on the request's thread. When another message of the user holds the lock, it waits
on a worker thread and `handle` only until the deadline. A step that ends after the deadline sends
its replies through `deliver_later` (customer-service API) and leaves retries without a passive
reply, so nothing is said twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import copy_context
from dataclasses import dataclass, replace

from bot.core.accounts import seen_within_the_hour
from bot.core.errors import UNAVAILABLE, LockTimeout, ReplayedRequest, ServiceUnavailable
from bot.core.flow import Context, Outcome
from bot.core.messages import Effect, Inbound, Reply
from bot.core.replies import ReplyBook
from bot.core.state import Begun, Conversation, Loaded, Profile, RedisStorage

log = logging.getLogger(__name__)

Router = Callable[[Conversation, Inbound, Context], Outcome]


@dataclass
class EngineHooks:
    """What the engine needs from the outside world, injected by the app factory."""

    # a unit of work (bot.core.unit) with an open SQL session
    open_unit: Callable[[Inbound], object]
    # run or queue effects, each once per (message, effect)
    run_effects: Callable[[Inbound, list[Effect]], None]
    # the channel-neutral push, queued
    deliver_later: Callable[[Inbound, list[Reply]], None]


class Engine:
    """Runs messages through flows one user at a time, within a deadline."""

    def __init__(
        self,
        storage: RedisStorage,
        router: Router,
        hooks: EngineHooks,
        book: ReplyBook,
        *,
        deadline: float = 4.0,
        lock_wait: float = 25.0,
        max_threads: int = 32,
    ) -> None:
        self.storage = storage
        self.router = router
        self.hooks = hooks
        self.book = book
        self.deadline = deadline
        self.lock_wait = lock_wait
        self.pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="engine")

    def handle(self, msg: Inbound, replay: tuple[str, str] | None = None) -> list[Reply] | None:
        """The replies for `msg`, or None when they could not be ready before the deadline.

        `replay`: the callback's nonce key and body digest, checked in the same round trip as the
        claim (ReplayedRequest when the nonce came with another body). Redis errors propagate,
        and so does ServiceUnavailable (the database is away; nothing was saved): the channel
        answers with its "system busy" text.
        """
        deadline = msg.received_at + self.deadline
        tag = msg.user_tag
        token = secrets.token_hex(12)
        nonce_key, digest = replay or ("", "")
        begun = self.storage.begin(tag, msg.msg_id, token, nonce_key, digest)
        if begun.outcome is Begun.REPLAYED:
            raise ReplayedRequest("nonce reused with another body")
        if begun.outcome is Begun.RETRY:
            if begun.cached is not None:
                return begun.cached
            replies = self.storage.cached_replies(tag, msg.msg_id, deadline)
            if replies is not None:
                return replies
            # the claim lapsed: whoever held it died before answering; take the message over
            begun = self.storage.begin(tag, msg.msg_id, token)
            if begun.outcome is Begun.RETRY:
                return begun.cached
        if begun.outcome is Begun.READY:  # the usual case: on this thread, no hop
            return self.process(msg, token, begun.loaded, deadline)
        # another message of this user holds the lock: wait for it on a worker thread, and for
        # that only until the deadline (a late reply goes out by the push API)
        # the worker thread (and its late delivery) run in the caller's context: its request id
        future = self.pool.submit(copy_context().run, self.process, msg, token, None, deadline)
        try:
            return future.result(timeout=max(0.0, deadline - time.time()))
        except FutureTimeout:
            log.info("reply to %s deferred past the deadline", msg.msg_id)
            late = copy_context()
            future.add_done_callback(lambda f: late.run(self._failed_late, msg, f))
            return None

    def process(
        self, msg: Inbound, token: str, loaded: Loaded | None = None, deadline: float | None = None
    ) -> list[Reply] | None:
        """Steps 2-7 for one claimed message; `loaded` when the lock was taken with the claim,
        else the lock is awaited here. The claim and the lock are leases, renewed while this runs.
        Done after `deadline` (the callback has given up): the replies go out by the push API,
        retries get no passive reply (so nothing is said twice), and this returns None."""
        tag = msg.user_tag
        released = False
        late = False
        self.storage.leases.hold(tag, msg.msg_id, token)
        try:
            try:
                if loaded is None:  # lock and load in one round trip
                    loaded = self.storage.acquire_and_load(tag, token, time.time() + self.lock_wait)
                    if loaded is None:
                        raise LockTimeout(tag)
                outcome, profile = self._step(loaded, msg)
            except Exception:  # nothing was committed: a retry may do the work
                self._unclaim_quietly(msg)
                raise
            replies = outcome.replies  # an expired conversation is told by the router
            late = deadline is not None and time.time() > deadline
            try:  # compare-and-set, reply cache, profile and unlock in one round trip
                self.storage.commit(
                    tag,
                    outcome.conversation,
                    loaded.conversation.version,
                    msg.msg_id,
                    [] if late else replies,
                    token,
                    profile=profile,
                    profile_gen=loaded.profile_gen,
                )
                released = True
            except Exception:
                # The SQL work is committed: keep the claim so that a retry cannot do it twice, and
                # tell the user what really happened. Only the conversation's place is lost.
                log.exception("state of %s not saved after its SQL commit", msg.msg_id)
        finally:
            self.storage.leases.drop(token)
            if not released:
                self._release_quietly(tag, token)
        self.hooks.run_effects(msg, outcome.effects)
        if late:
            log.info("reply to %s deferred past the deadline", msg.msg_id)
            self._push_quietly(msg, replies)
            return None
        return replies

    def _step(self, loaded: Loaded, msg: Inbound) -> tuple[Outcome, Profile | None]:
        """Run the flow with an open SQL session and commit it; the outcome, and the profile read
        from SQL to cache (None when it was cached or changed). The database or Redis away:
        ServiceUnavailable, nothing saved, the form where it was (a connection found dead is
        retried once first). Any other error resets the conversation politely."""
        for attempt in (1, 2):
            services = self.hooks.open_unit(msg)
            services.profile = loaded.profile
            conv = loaded.conversation
            ctx = Context(msg, services, self.book, expired=loaded.expired)
            try:
                if loaded.blank:  # a new user, or one whose conversation Redis lost
                    services.who()
                    seen = services.last_seen
                    if seen_within_the_hour(seen) and seen.timestamp() < self.storage.data_since():
                        ctx = replace(ctx, expired=True, lost=True)
                outcome = self.router(conv, msg, ctx)
                services.commit()
                # effects the rules collected in the unit run with the step's own
                outcome.effects.extend(e for e in services.effects if e not in outcome.effects)
                fresh = None if services.profiles_changed else services.profile_read
                return outcome, fresh
            except UNAVAILABLE as exc:
                services.rollback()
                if attempt == 1 and getattr(exc, "connection_invalidated", False):
                    log.warning("a pooled database connection was dead; step retried")
                    continue
                log.warning("step of %s not run: %s", msg.msg_id, type(exc).__name__)
                raise ServiceUnavailable(type(exc).__name__) from exc
            except Exception:
                log.exception("flow %s:%s failed; conversation reset", conv.flow, conv.step)
                services.rollback()
                reset = Conversation(version=conv.version, acting_for=conv.acting_for)
                return Outcome(reset, [ctx.say("system/error_reset")]), None
            finally:
                services.close()
        raise AssertionError("unreachable")

    def _failed_late(self, msg: Inbound, future: Future) -> None:
        """A message that missed its deadline and then failed: tell the user to send it again."""
        if future.exception() is not None:
            log.error("deferred processing of %s failed", msg.msg_id, exc_info=future.exception())
            self._push_quietly(msg, [Reply(self.book.render("system/busy"))])

    def _push_quietly(self, msg: Inbound, replies: list[Reply]) -> None:
        try:
            if replies:
                self.hooks.deliver_later(msg, replies)
        except Exception:
            log.exception("late delivery of %s failed", msg.msg_id)

    def _unclaim_quietly(self, msg: Inbound) -> None:
        try:
            self.storage.unclaim(msg.user_tag, msg.msg_id)
        except Exception:  # Redis is down: the claim expires by itself
            log.warning("could not release the claim of %s", msg.msg_id)

    def _release_quietly(self, tag: str, token: str) -> None:
        try:
            self.storage.release(tag, token)
        except Exception:  # Redis is down: the lock expires by itself
            log.warning("could not release a user lock")
