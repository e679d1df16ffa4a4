"""Reconciliation: every intent for a billable Runway call ends resolved.

It runs right after a lost answer (the member's command waits a little while, with backoff),
at start-up for whatever a killed process left behind, and on a schedule. An intent whose
process is alive and still waiting on Runway is left to it; one of a dead process (on SQLite,
any earlier process; in a cluster, one whose heartbeat stopped) is settled at once, and so
are that process's reservations. What was found and done is logged, kept for `/about`, and
told to the member who asked.

Where the dialect cannot list Runway's objects (the seed description), nothing can be found:
an unsure intent is closed as UNRESOLVED once its grace has passed, the bot's own record is
released (names freed, reservations released) and admins see it reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from bot.runway.errors import RunwayError
from bot.services.background import Background
from bot.services.processes import ProcessIdentity
from bot.services.reconcile_kinds import KindHandler, Resolution
from bot.storage import Clock, EndReason, SessionRepository, unix_now
from bot.storage.intents import Intent, IntentCounts, IntentRepository, IntentState

log = logging.getLogger(__name__)

INTERVAL_SECONDS: Final = 300.0
DEAD_OWNER_GRACE_SECONDS: Final = 5
"""A dead process's call may have reached Runway just before it died; give it this long."""
REPORT_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class Outcome:
    """One intent resolved by reconciliation, for the member's DM and the admins' view."""

    intent: Intent
    resolution: Resolution


@dataclass(slots=True)
class PassReport:
    reason: str
    started_at: int
    finished_at: int = 0
    looked_at: int = 0
    resolved: dict[IntentState, int] = field(default_factory=dict)
    still_open: int = 0
    released_reservations: int = 0
    unattributed: int = 0
    """Objects at Runway, in the windows looked at, that no record or intent of this bot
    accounts for: reported, never touched (the account may be shared)."""
    errors: int = 0

    def summary(self) -> str:
        done = ", ".join(f"{count} {state.value.lower()}" for state, count in self.resolved.items())
        return (
            f"reconciliation ({self.reason}): {self.looked_at} open intents looked at"
            f"{'; ' + done if done else ''}; {self.still_open} still open; "
            f"{self.released_reservations} reservations of dead processes released; "
            f"{self.unattributed} objects at Runway not this bot's, left alone"
            f"{f'; {self.errors} errors, retried later' if self.errors else ''}"
        )


Listener = Callable[[Outcome], Awaitable[None]]


class Reconciler:
    def __init__(
        self,
        *,
        intents: IntentRepository,
        sessions: SessionRepository,
        identity: ProcessIdentity,
        handlers: list[KindHandler],
        clock: Clock = unix_now,
        interval: float = INTERVAL_SECONDS,
        dead_grace: int = DEAD_OWNER_GRACE_SECONDS,
    ) -> None:
        self._dead_grace = dead_grace
        self._intents = intents
        self._sessions = sessions
        self._identity = identity
        self._handlers = {handler.kind.value: handler for handler in handlers}
        self._clock = clock
        self._interval = interval
        self._listeners: list[Listener] = []
        self._inline: set[int] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._loop = Background("reconciler", self._run)
        self.last_report: PassReport | None = None
        self.unattributed: dict[str, set[str]] = {}
        """Per kind, the objects the latest listing found that nothing of this bot accounts
        for (the account may be shared): reported, never touched."""

    def on_outcome(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def wake(self) -> None:
        self._wake.set()

    async def counts(self, guild_id: int | None = None) -> IntentCounts:
        since = self._clock() - REPORT_DAYS * 86400
        return await self._intents.counts(since=since, guild_id=guild_id)

    async def recent(self, guild_id: int, limit: int = 5) -> list[Intent]:
        return [
            intent
            for intent in await self._intents.for_guild(guild_id, limit=limit * 4)
            if intent.attempts > 0 or intent.state.open
        ][:limit]

    # Inline: the member's command looks for its own object (BillableCalls' Finder).

    async def settle(self, intent_id: int, *, within: float) -> IntentState | None:
        """Look for the object with backoff until it is found (claimed for the caller, who
        records it: the intent stays open until then), proven absent, or `within` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        delay = 0.5
        self._inline.add(intent_id)
        try:
            while True:
                intent = await self._intents.get(intent_id)
                if intent is None or not intent.state.open:
                    return None if intent is None else intent.state
                try:
                    claimed = await self._look(intent, inline=True)
                except RunwayError:
                    log.info("intent %s: Runway could not be asked yet", intent_id)
                    claimed = None
                if claimed is not None:
                    return claimed
                if loop.time() + delay > deadline:
                    self.wake()  # the scheduled pass takes over
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)
        finally:
            self._inline.discard(intent_id)

    async def runway_id(self, intent_id: int) -> str | None:
        intent = await self._intents.get(intent_id)
        return None if intent is None else intent.runway_id

    # The pass: at start-up, on schedule, and when woken.

    async def run_once(self, reason: str) -> PassReport:
        async with self._lock:
            report = PassReport(reason=reason, started_at=self._clock())
            dead = await self._identity.dead_owners()
            released = await self._sessions.release_owned_by(dead, EndReason.ABANDONED)
            report.released_reservations = len(released)
            for intent in await self._intents.open_intents():
                if intent.id in self._inline or not self._due_for_look(intent, dead):
                    continue
                report.looked_at += 1
                try:
                    await self._look(intent, inline=False, report=report, dead=dead)
                except RunwayError as error:
                    report.errors += 1
                    log.warning("intent %s: Runway could not be asked (%s)", intent.id, error)
                intent_now = await self._intents.get(intent.id)
                if intent_now is not None and intent_now.state.open:
                    report.still_open += 1
            report.finished_at = self._clock()
            self.last_report = report
            log.log(
                logging.WARNING if report.resolved or report.unattributed else logging.INFO,
                "%s",
                report.summary(),
            )
            return report

    def _due_for_look(self, intent: Intent, dead: list[int]) -> bool:
        """A live process's call still in flight is its own business."""
        return intent.state is IntentState.UNSURE or intent.owner in dead

    async def _look(
        self,
        intent: Intent,
        *,
        inline: bool,
        report: PassReport | None = None,
        dead: list[int] | None = None,
    ) -> IntentState | None:
        handler = self._handlers.get(intent.kind)
        if handler is None:
            log.error("intent %s has a kind no handler knows: %s", intent.id, intent.kind)
            return None
        await self._intents.counted_attempt(intent.id)
        own = await handler.own_runway_id(intent)
        if own is not None:
            await self._resolve(
                intent,
                Resolution(IntentState.ADOPTED, "recorded before a crash", None, own),
                report,
            )
            return IntentState.ADOPTED
        now = self._clock()
        owner_dead = dead is not None and intent.owner in dead
        due = now >= intent.decide_after or (
            owner_dead and now >= intent.created_at + self._dead_grace
        )
        if not handler.can_list():
            # Nothing will ever tell more; inline, the member reads it in the command's reply.
            if due or inline:
                resolution = await handler.unresolvable(intent)
                await self._resolve(intent, resolution, report, notify=not inline)
                return IntentState.UNRESOLVED
            return None
        listing = await handler.listed(intent)
        known = await self._intents.recorded(listing.seen, besides=intent.id)
        candidates = [runway_id for runway_id in listing.matches if runway_id not in known]
        if listing.only_if_alone and len(candidates) > 1:
            log.warning(
                "intent %s: %d objects at Runway could be its, none surely: left alone",
                intent.id,
                len(candidates),
            )
            candidates = []
        accounted = known | set(candidates)
        strangers = {seen for seen in listing.seen if seen not in accounted}
        self.unattributed[intent.kind] = strangers
        if report is not None:
            report.unattributed += len(strangers)
        if candidates:
            chosen = candidates[0]
            if not await self._intents.claim(intent.id, chosen):
                return None  # another intent took it meanwhile; look again next time
            if inline:
                return IntentState.ADOPTED  # the caller records it and closes the intent
            fresh = await self._intents.get(intent.id)
            current = fresh or intent
            await self._resolve(current, await handler.found(current, chosen), report)
            return IntentState.ADOPTED
        if due or (inline and now >= intent.decide_after):
            # Inline, the member reads the outcome in the command's own reply: no DM.
            await self._resolve(intent, await handler.absent(intent), report, notify=not inline)
            return IntentState.FAILED
        return None

    async def _resolve(
        self,
        intent: Intent,
        resolution: Resolution,
        report: PassReport | None,
        *,
        notify: bool = True,
    ) -> None:
        if not await self._intents.resolve(
            intent.id, resolution.state, resolution.outcome, runway_id=resolution.runway_id
        ):
            return  # someone else resolved it first
        log.warning("intent %s (%s) resolved: %s", intent.id, intent.kind, resolution.outcome)
        if report is not None:
            report.resolved[resolution.state] = report.resolved.get(resolution.state, 0) + 1
        for listener in self._listeners if notify else ():
            try:
                await listener(Outcome(intent, resolution))
            except Exception:  # a failed DM must not stop reconciling
                log.warning("reconciliation listener failed", exc_info=True)

    async def _run(self) -> None:
        reason = "start-up"
        while True:
            self._wake.clear()
            try:
                await self.run_once(reason)
            except Exception:  # the loop must survive anything; the next pass retries
                log.exception("reconciliation pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=await self._next_wait())
            reason = "woken" if self._wake.is_set() else "schedule"

    async def _next_wait(self) -> float:
        """Until the next open intent can be decided (an unsure one's grace, a dead process's
        call's few seconds), or the regular interval."""
        soonest = self._interval
        dead = await self._identity.dead_owners()
        for intent in await self._intents.open_intents(limit=50):
            if intent.state is IntentState.UNSURE:
                due = intent.decide_after
            elif intent.owner in dead:
                due = intent.created_at + self._dead_grace
            else:
                continue  # a live process's call in flight: its own business
            soonest = min(soonest, max(1.0, due - self._clock() + 1))
        return soonest
