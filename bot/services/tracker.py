"""Following every open session to its end and settling it to the seconds really used.

Production: Runway's own state decides (COMPLETED with `duration`, FAILED and CANCELLED cost
what Runway says, nothing for a failure). The seed description has no way to ask, so there
the time between joining and the end is used, capped at the session's maximum. A session
that never got ready is cancelled and costs nothing. Everything the tracker needs is in the
database, so after a crash it simply picks up the open sessions again; settling is
idempotent, so nothing is ever counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.errors import RunwayError
from bot.runway.models import SessionStatus
from bot.services.background import Background
from bot.storage import Clock, EndReason, Session, SessionRepository, SessionState, unix_now
from bot.telemetry.metrics import TRACKER_LAST_SWEEP, TRACKER_LEADER, TRACKER_SWEEP

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 5.0
READY_TIMEOUT_SECONDS: Final = 180
"""A session not joined this long after the start is cancelled (the link's window is over)."""
OVERRUN_GRACE_SECONDS: Final = 30
ORPHAN_RESERVATION_SECONDS: Final = 120
TIME_LIMIT_SLACK_SECONDS: Final = 5

Settled = Callable[[Session], Awaitable[None]]


class SessionTracker:
    def __init__(
        self,
        *,
        sessions: SessionRepository,
        runway: RunwayClient,
        clock: Clock = unix_now,
        poll_seconds: float = POLL_SECONDS,
        ready_timeout: int = READY_TIMEOUT_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._runway = runway
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._ready_timeout = ready_timeout
        self._hints: dict[int, EndReason] = {}
        self._listeners: list[Settled] = []
        self._wake = asyncio.Event()
        self._loop = Background("session-tracker", self._run)

    def on_settled(self, listener: Settled) -> None:
        """Call `listener` once for each session this process settles (e.g. to DM a summary)."""
        self._listeners.append(listener)

    def start(self) -> None:
        self._loop.start()
        TRACKER_LEADER.set(1)  # every process that runs a tracker leads it (one per database)

    async def stop(self) -> None:
        TRACKER_LEADER.set(0)
        await self._loop.stop()

    def wake(self) -> None:
        self._wake.set()

    async def sweep(self) -> None:
        """Check every open session once (also what a restart resumes)."""
        for session in await self._sessions.open_sessions():
            try:
                await self.check(session)
            except RunwayError:
                log.info("session %s: Runway unreachable, checking later", session.id)

    async def check(self, session: Session) -> None:
        now = self._clock()
        if session.state is SessionState.RESERVED:
            # A reservation with an owner has an intent: reconciliation settles it, at once
            # when its process is gone. Older rows fall back on a timeout.
            if session.owner is None and now - session.created_at > ORPHAN_RESERVATION_SECONDS:
                await self._release(session, EndReason.START_FAILED)
            return
        if self._runway.rules.supports(Operation.SESSION_GET):
            await self._check_remote(session, now)
        else:
            await self._check_by_clock(session, now)

    async def note_end(self, session: Session, reason: EndReason) -> None:
        """The join page says the call ended. Where Runway can be asked, its state decides
        (a call it still reports running is settled by a later sweep); elsewhere the end
        is now."""
        self._hints[session.id] = reason
        await self.check(session)
        if not self._runway.rules.supports(Operation.SESSION_GET):
            await self._settle_elapsed(session, self._clock(), reason)

    async def end_now(self, session: Session, reason: EndReason) -> Session:
        """End a live session at Runway (where it can be) and settle it at once."""
        self._hints[session.id] = reason
        if session.runway_id is not None:
            await self.cancel_remote(session.runway_id)
        now = self._clock()
        if session.state is SessionState.RESERVED:
            await self._release(session, reason)
        elif self._runway.rules.supports(Operation.SESSION_GET):
            await self._check_remote(session, now)
        else:
            await self._settle_elapsed(session, now, reason)
        settled = await self._sessions.get(session.guild_id, session.id)
        assert settled is not None
        return settled

    async def cancel_remote(self, runway_id: str) -> None:
        if not self._runway.rules.supports(Operation.SESSION_CANCEL):
            return
        with contextlib.suppress(RunwayNotFound):
            await self._runway.cancel_session(runway_id)

    async def _run(self) -> None:
        while True:
            # Cleared before the sweep, not after: a start that wakes the tracker while a
            # sweep is running must get a sweep of its own, not wait for the next poll.
            self._wake.clear()
            try:
                with TRACKER_SWEEP.time():
                    await self.sweep()
                TRACKER_LAST_SWEEP.set_to_current_time()
            except Exception:  # the loop must survive anything; the next sweep retries
                log.exception("session sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)

    async def _check_remote(self, session: Session, now: int) -> None:
        assert session.runway_id is not None
        try:
            remote = await self._runway.get_session(session.runway_id)
        except RunwayNotFound:
            await self._settle_elapsed(session, now, EndReason.ABANDONED)
            return
        status = remote.status
        if status is SessionStatus.COMPLETED:
            used = min(remote.duration or 0, session.max_seconds)
            await self._settle(session, used, self._completed_reason(session, used))
        elif status is SessionStatus.FAILED:
            await self._settle(session, 0, EndReason.FAILED)
        elif status is SessionStatus.CANCELLED:
            await self._settle_elapsed(
                session, now, self._hints.get(session.id, EndReason.CANCELLED)
            )
        elif status in (SessionStatus.NOT_READY, SessionStatus.READY):
            if session.consumed_at is None and now - session.created_at > self._ready_timeout:
                await self.cancel_remote(session.runway_id)
                await self._settle(session, 0, EndReason.NEVER_READY)
        elif (
            session.consumed_at
            and now - session.consumed_at > session.max_seconds + OVERRUN_GRACE_SECONDS
        ):
            await self.cancel_remote(session.runway_id)
            await self._settle(session, session.max_seconds, EndReason.TIME_LIMIT)

    async def _check_by_clock(self, session: Session, now: int) -> None:
        if session.consumed_at is None:
            if now - session.created_at > self._ready_timeout:
                await self._settle(session, 0, EndReason.NEVER_READY)
            return
        if now - session.consumed_at >= session.max_seconds:
            await self._settle(session, session.max_seconds, EndReason.TIME_LIMIT)

    async def _settle_elapsed(self, session: Session, now: int, reason: EndReason) -> None:
        used = 0
        if session.consumed_at is not None:
            used = max(0, min(now - session.consumed_at, session.max_seconds))
        await self._settle(session, used, reason)

    def _completed_reason(self, session: Session, used: int) -> EndReason:
        hint = self._hints.get(session.id)
        if hint is not None:
            return hint
        if used >= session.max_seconds - TIME_LIMIT_SLACK_SECONDS:
            return EndReason.TIME_LIMIT
        return EndReason.COMPLETED

    async def _settle(self, session: Session, used: int, reason: EndReason) -> None:
        changed = await self._sessions.settle(
            session.id, used_seconds=used, end_reason=reason, ended_at=self._clock()
        )
        self._hints.pop(session.id, None)
        if changed:
            log.info("session %s settled: %s s, %s", session.id, used, reason.value)
            await self._notify(session)

    async def _release(self, session: Session, reason: EndReason) -> None:
        if await self._sessions.release(session.id, reason):
            self._hints.pop(session.id, None)
            await self._notify(session)

    async def _notify(self, session: Session) -> None:
        final = await self._sessions.get(session.guild_id, session.id)
        if final is None:
            return
        for listener in self._listeners:
            try:
                await listener(final)
            except Exception:  # a failed DM must not stop settling
                log.warning("settled-session listener failed", exc_info=True)
