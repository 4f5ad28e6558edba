"""The conversation engine: one inbound message in, the replies out, with the guarantees of
DESIGN.md section 1.

1. dedup on (user, msg_id): a retry gets the cached replies of the first delivery
2. a per-user lock (Redis, owner token, expiry): one message of a user at a time, across processes
3. load the versioned state  4. route to the flow  5. commit the SQL session, then the state
   (compare-and-set) together with the reply cache  6. run the effects once  7. release the lock

The whole of that runs on a worker thread; `handle` waits for it only until the deadline. When the
deadline passes first, the replies go out later through `deliver_later` (customer-service API).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import copy_context
from dataclasses import dataclass

from bot.core.errors import LockTimeout
from bot.core.flow import Context, Outcome
from bot.core.messages import Effect, Inbound, Reply
from bot.core.replies import ReplyBook
from bot.core.state import Conversation, RedisStorage

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

    def handle(self, msg: Inbound) -> list[Reply] | None:
        """The replies for `msg`, or None when they could not be ready before the deadline.

        Redis errors propagate: the channel answers with its "system busy" text.
        """
        deadline = msg.received_at + self.deadline
        tag = msg.user_tag
        if not self.storage.claim(tag, msg.msg_id):
            return self.storage.cached_replies(tag, msg.msg_id, deadline)
        # the worker thread and a late delivery run in the caller's context (its request id)
        future = self.pool.submit(copy_context().run, self.process, msg)
        try:
            return future.result(timeout=max(0.0, deadline - time.time()))
        except FutureTimeout:
            log.info("reply to %s deferred past the deadline", msg.msg_id)
            late = copy_context()
            future.add_done_callback(lambda f: late.run(self._deliver_late, msg, f))
            return None

    def process(self, msg: Inbound) -> list[Reply]:
        """Steps 2-7 for one claimed message (runs on a worker thread)."""
        tag = msg.user_tag
        token = secrets.token_hex(12)
        released = False
        try:
            try:  # lock and load in one round trip
                loaded = self.storage.acquire_and_load(tag, token, time.time() + self.lock_wait)
                if loaded is None:
                    raise LockTimeout(tag)
                conv, expired = loaded
                outcome = self._step(conv, msg, expired)
            except Exception:  # nothing was committed: a retry may do the work
                self._unclaim_quietly(msg)
                raise
            replies = outcome.replies  # an expired conversation is told by the router
            try:  # compare-and-set, reply cache and unlock in one round trip
                self.storage.commit(
                    tag, outcome.conversation, conv.version, msg.msg_id, replies, token
                )
                released = True
            except Exception:
                # The SQL work is committed: keep the claim so that a retry cannot do it twice, and
                # tell the user what really happened. Only the conversation's place is lost.
                log.exception("state of %s not saved after its SQL commit", msg.msg_id)
        finally:
            if not released:
                self._release_quietly(tag, token)
        self.hooks.run_effects(msg, outcome.effects)
        return replies

    def _step(self, conv: Conversation, msg: Inbound, expired: bool = False) -> Outcome:
        """Run the flow with an open SQL session; commit it, or reset politely on any error."""
        services = self.hooks.open_unit(msg)
        ctx = Context(msg, services, self.book, expired=expired)
        try:
            outcome = self.router(conv, msg, ctx)
            services.commit()
            # effects the rules collected in the unit run with the step's own
            outcome.effects.extend(e for e in services.effects if e not in outcome.effects)
            return outcome
        except Exception:
            log.exception("flow %s:%s failed; conversation reset", conv.flow, conv.step)
            services.rollback()
            reset = Conversation(version=conv.version, acting_for=conv.acting_for)
            return Outcome(reset, [ctx.say("system/error_reset")])
        finally:
            services.close()

    def _deliver_late(self, msg: Inbound, future: Future) -> None:
        try:
            replies = future.result()
        except Exception:
            log.exception("deferred processing of %s failed", msg.msg_id)
            replies = [Reply(self.book.render("system/busy"))]
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
