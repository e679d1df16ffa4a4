"""Following every open session to its end and settling it to the seconds really used.

Production: Runway's own state decides (COMPLETED with `duration`, FAILED and CANCELLED cost
what Runway says, nothing for a failure). The seed description has no way to ask, so there
the time between joining and the end is used, capped at the session's maximum. A session
that never got ready is cancelled and costs nothing. Everything the tracker needs is in the
database, so after a crash it simply picks up the open sessions again; settling is
idempotent, so nothing is ever counted twice.

Across processes: only the holder of the tracker's lease sweeps (`bot.services.leadership`);
every process may still end its own members' calls at once (`end_now`, `note_end`). How the
bot learnt a call ended (the join page, `/session end`) is kept on the session's row, so the
leader settles with the right reason whoever heard it. Each end is queued for announcement in
the transaction that settles it, and every process announces what is queued
(`bot.storage.outbox`): a summary is sent once, whichever process settled, and a process that
dies mid-send leaves it to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Final

from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.errors import RunwayError
from bot.runway.models import SessionStatus
from bot.services.background import Background
from bot.services.leadership import Lease
from bot.storage import Clock, EndReason, Session, SessionRepository, SessionState, unix_now
from bot.storage.outbox import MAX_ATTEMPTS
from bot.storage.wakeups import Channel, Wakeups
from bot.telemetry.metrics import TRACKER_LAST_SWEEP, TRACKER_LEADER, TRACKER_SWEEP

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 5.0
READY_TIMEOUT_SECONDS: Final = 180
"""A session not joined this long after the start is cancelled (the link's window is over)."""
OVERRUN_GRACE_SECONDS: Final = 30
ORPHAN_RESERVATION_SECONDS: Final = 120
TIME_LIMIT_SLACK_SECONDS: Final = 5
ANNOUNCE_CLAIM_SECONDS: Final = 60
"""How long a process may take to announce an end before another process tries."""

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
        lease: Lease | None = None,
        wakeups: Wakeups | None = None,
    ) -> None:
        """Without `lease`, this tracker sweeps alone (one process on the database);
        `wakeups` brings other processes' news (a call opened or ended, a lease let go)."""
        self._sessions = sessions
        self._runway = runway
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._ready_timeout = ready_timeout
        self._lease = lease
        if lease is not None:  # a process that becomes the leader sweeps at once
            lease.on_change(lambda held: self.wake() if held else None)
        self._ends = asyncio.Event()
        self._listener: Background | None = None
        if wakeups is not None:
            wakeups.subscribe(Channel.TRACKER, self.wake)
            wakeups.subscribe(Channel.ENDS, self._ends.set)
            if lease is not None:
                wakeups.subscribe(Channel.LEASES, lease.poke)
            if wakeups.needed:
                self._listener = Background("session-wakeups", wakeups.listen)
        self._announcer = Background("session-announcer", self._announce_loop)
        # Names this tracker's claims of ends to announce (a process may run several, tests).
        self._claimer = secrets.randbits(62)
        self._listeners: list[Settled] = []
        self._wake = asyncio.Event()
        self._loop = Background("session-tracker", self._run)

    def on_settled(self, listener: Settled) -> None:
        """Call `listener` once for each session that ends, across every process on the
        database, in whichever process announces it (e.g. to DM a summary)."""
        self._listeners.append(listener)

    @property
    def leads(self) -> bool:
        """Whether this process follows and settles the open sessions now."""
        return self._lease is None or self._lease.held

    def start(self) -> None:
        if self._listener is not None:
            self._listener.start()
        if self._lease is not None:
            self._lease.start()
        self._loop.start()
        self._announcer.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self._announcer.stop()
        if self._lease is not None:
            await self._lease.stop()
        if self._listener is not None:
            await self._listener.stop()
        TRACKER_LEADER.set(0)

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
        (a call it still reports running is settled by a later sweep, maybe at another
        process: the reason is kept on the row); elsewhere the end is now."""
        session = await self._hint(session, reason)
        await self.check(session)
        if not self._runway.rules.supports(Operation.SESSION_GET):
            await self._settle_elapsed(session, self._clock(), reason)

    async def end_now(self, session: Session, reason: EndReason) -> Session:
        """End a live session at Runway (where it can be) and settle it at once."""
        session = await self._hint(session, reason)
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

    async def announce(self) -> int:
        """Announce the ends queued by any process that nobody is announcing (a process
        that died mid-send leaves its claim to run out); returns how many were claimed."""
        claimed = await self._sessions.claim_ends(self._claimer, ANNOUNCE_CLAIM_SECONDS)
        for session_id, attempts in claimed:
            if attempts > MAX_ATTEMPTS:
                log.error("session %s: its end was not announced in %d tries", session_id, attempts)
            else:
                final = await self._sessions.by_id(session_id)
                if final is not None:
                    await self._notify(final)
            await self._sessions.announced(session_id, self._claimer)
        return len(claimed)

    async def _hint(self, session: Session, reason: EndReason) -> Session:
        """Keep how the call ended on its row, for whichever process settles it."""
        if session.state is SessionState.OPEN:
            await self._sessions.note_end_hint(session.id, reason)
        return replace(session, end_hint=reason)

    async def _run(self) -> None:
        while True:
            # Cleared before the sweep, not after: a start that wakes the tracker while a
            # sweep is running must get a sweep of its own, not wait for the next poll.
            self._wake.clear()
            TRACKER_LEADER.set(int(self.leads))
            try:
                if self.leads:
                    with TRACKER_SWEEP.time():
                        await self.sweep()
                    TRACKER_LAST_SWEEP.set_to_current_time()
            except Exception:  # the loop must survive anything; the next sweep retries
                log.exception("session sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)

    async def _announce_loop(self) -> None:
        """Every process announces ends, whoever settled them: at once when told (NOTIFY),
        and every poll for those whose announcer died mid-send."""
        while True:
            self._ends.clear()
            try:
                await self.announce()
            except Exception:
                log.exception("announcing ended sessions failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ends.wait(), timeout=self._poll_seconds)

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
            await self._settle_elapsed(session, now, session.end_hint or EndReason.CANCELLED)
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
        if session.end_hint is not None:
            return session.end_hint
        if used >= session.max_seconds - TIME_LIMIT_SLACK_SECONDS:
            return EndReason.TIME_LIMIT
        return EndReason.COMPLETED

    async def _settle(self, session: Session, used: int, reason: EndReason) -> None:
        changed = await self._sessions.settle(
            session.id, used_seconds=used, end_reason=reason, ended_at=self._clock(), announce=True
        )
        if changed:
            log.info("session %s settled: %s s, %s", session.id, used, reason.value)
            await self.announce()

    async def _release(self, session: Session, reason: EndReason) -> None:
        if await self._sessions.release(session.id, reason, announce=True):
            await self.announce()

    async def _notify(self, final: Session) -> None:
        for listener in self._listeners:
            try:
                await listener(final)
            except Exception:  # a failed DM must not stop settling
                log.warning("settled-session listener failed", exc_info=True)
