"""A fair waiting line for the Runway account's call slots.

A Runway account runs 1 to 20 calls at once, by tier (`RUNWAY_MAX_LIVE_SESSIONS`). When every
slot is taken, by the bot's own count or because Runway said so (a 429 for concurrency), a
member who asks for a call may wait in line. When a slot frees, the next member in fair order
(servers take turns, first come within a server) is given it: their call is reserved with
every limit of their server checked at that moment, set up at Runway, and its link sent to
them; it is then held for them for the join window, and a member who does not come loses it
to the next one (the tracker cancels a call nobody joined).

The line is rows in the database (`bot.storage.waiting_line`); this service only drives it.
It gives slots when woken (a call ended, someone joined or left the line) and every few
seconds, so a slot freed by another process is given too. Telling members is left to
listeners (the Discord side): `on_offer` delivers a given call's link, `on_removed` tells a
member why they left the line, `on_change` lets places shown to members be refreshed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from bot.errors import UserFacingError
from bot.runway.errors import RateLimitedError, RunwayError
from bot.services.actors import Actor, Permissions
from bot.services.background import Background
from bot.services.billable import StillChecking
from bot.services.processes import ProcessIdentity
from bot.services.quotas import FittedPolicy, QuotaService, explain
from bot.services.sessions import SessionService, SlotsBusy, StartedSession, Target, runway_target
from bot.services.tracker import SessionTracker
from bot.settings import Dialect
from bot.storage import Clock, EndReason, SessionRepository, unix_now
from bot.storage.quotas import StoredQuotas
from bot.storage.waiting_line import (
    LineEntry,
    LineState,
    NewLineEntry,
    Refused,
    SlotPolicy,
    WaitingLineRepository,
)

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 10.0
"""How often the line looks for a free slot besides being woken (slots freed elsewhere)."""
RUNWAY_FULL_PAUSE_SECONDS: Final = 30.0
"""After Runway refused a slot the bot counted as free (the account is shared, or the setting
is too high): wait this long, or until a call ends, before trying again."""
TYPICAL_CALL_SECONDS: Final = 180
"""A call's length for the estimate until the account has calls of its own to go by."""
ESTIMATE_HISTORY_SECONDS: Final = 7 * 86_400


@dataclass(frozen=True, slots=True)
class Place:
    """A member's place: `position` 1 is next; `minutes` is the estimated wait."""

    entry: LineEntry
    position: int
    minutes: int
    slots: int


@dataclass(frozen=True, slots=True)
class Offer:
    """A slot given to a member: the call set up for them, whose link must reach them."""

    entry: LineEntry
    started: StartedSession


@dataclass(frozen=True, slots=True)
class Removed:
    """A member taken out of the line when their turn came, and why (for them to read)."""

    entry: LineEntry
    reason: str


@dataclass(frozen=True, slots=True)
class LineView:
    """What an admin sees: the account's slots and line, and their server's places."""

    slots: int
    live: int
    waiting: int
    places: tuple[Place, ...]


Deliver = Callable[[Offer], Awaitable[bool]]
"""Sends a given call's link to its member; False if it could not reach them."""
RemovedListener = Callable[[Removed], Awaitable[None]]
ChangeListener = Callable[[], Awaitable[None]]


class WaitingLine:
    def __init__(
        self,
        *,
        line: WaitingLineRepository,
        sessions: SessionService,
        session_rows: SessionRepository,
        tracker: SessionTracker,
        quotas: QuotaService,
        identity: ProcessIdentity,
        slots: int,
        dialect: Dialect,
        clock: Clock = unix_now,
        poll_seconds: float = POLL_SECONDS,
        runway_full_pause: float = RUNWAY_FULL_PAUSE_SECONDS,
    ) -> None:
        self._line = line
        self._sessions = sessions
        self._session_rows = session_rows
        self._tracker = tracker
        self._quotas = quotas
        self._identity = identity
        self.slots = slots
        self._dialect = dialect
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._runway_full_pause = runway_full_pause
        self._paused_until = 0.0
        self._deliver: Deliver | None = None
        self._removed: list[RemovedListener] = []
        self._changed: list[ChangeListener] = []
        self._wake = asyncio.Event()
        self._giving = asyncio.Lock()
        self._loop = Background("waiting-line", self._run)
        tracker.on_settled(self._call_ended)

    # Listeners (the Discord side)

    def on_offer(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def on_removed(self, listener: RemovedListener) -> None:
        self._removed.append(listener)

    def on_change(self, listener: ChangeListener) -> None:
        self._changed.append(listener)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def wake(self) -> None:
        self._wake.set()

    # A member's place

    async def join(
        self, guild_id: int, actor: Actor, target: Target, *, minutes: int | None = None
    ) -> Place | None:
        """Take a place in line for this call (or keep one's place, for this call now).
        None when a slot was given to the member at once (its link is on its way)."""
        await self._line.join(
            NewLineEntry(
                guild_id=guild_id,
                member_id=actor.user_id,
                role_ids=actor.role_ids,
                avatar_label=target.label,
                wanted_seconds=self._sessions.wanted_seconds(minutes),
                runway_target=runway_target(target),
                avatar_id=target.avatar.id if target.avatar else None,
                preset_id=target.preset_id,
            )
        )
        self.wake()
        await self._notify_change()  # everyone behind moves down a place
        return await self.place(guild_id, actor.user_id)

    async def waits(self, guild_id: int, member_id: int) -> bool:
        """Whether the member waits in this server's line (one index lookup: every start
        asks)."""
        entry = await self._line.entry(guild_id, member_id)
        return entry is not None and entry.state is LineState.WAITING

    async def place(self, guild_id: int, member_id: int) -> Place | None:
        """The member's place while they wait (None once served, refused or gone)."""
        for place in await self.places():
            if (place.entry.guild_id, place.entry.member_id) == (guild_id, member_id):
                return place
        return None

    async def places(self) -> list[Place]:
        """Everyone waiting, in the order slots will go to them, with the estimates."""
        waiting = await self._line.waiting()
        per_slot = await self._call_seconds() / max(1, self.slots)
        return [
            Place(
                entry=entry,
                position=index,
                minutes=max(1, math.ceil(index * per_slot / 60)),
                slots=self.slots,
            )
            for index, entry in enumerate(waiting, start=1)
        ]

    async def note_dm(self, entry_id: int, channel_id: int, message_id: int) -> None:
        """The DM that shows the member's place from now on (any process may edit it)."""
        await self._line.set_notice(entry_id, channel_id, message_id)

    async def leave(self, guild_id: int, member_id: int) -> bool:
        left = await self._line.leave(guild_id, member_id)
        if left is not None:
            await self._notify_change()
        return left is not None

    async def view(self, guild_id: int, actor: Actor) -> LineView:
        """The line as this server's admins see it."""
        Permissions.require_admin(actor, doing="Seeing the waiting line")
        places = await self.places()
        return LineView(
            slots=self.slots,
            live=len(await self._session_rows.open_sessions()),
            waiting=len(places),
            places=tuple(p for p in places if p.entry.guild_id == guild_id),
        )

    async def clear(self, guild_id: int, actor: Actor | None) -> list[LineEntry]:
        """Everyone of this server leaves the line, and is told (its admins cleared it; or,
        `actor` None, the bot left the server)."""
        if actor is not None:
            Permissions.require_admin(actor, doing="Clearing the waiting line")
        cleared = await self._line.clear(guild_id)
        why = (
            "An admin of the server cleared its waiting line."
            if actor is not None
            else "The bot is no longer in that server."
        )
        for entry in cleared:
            await self._tell_removed(Removed(entry, why))
        if cleared:
            log.info("waiting line of server %s cleared: %d left", guild_id, len(cleared))
            await self._notify_change()
        return cleared

    # Giving slots

    async def serve(self) -> int:
        """Give every free slot to the next members in line; returns how many were given.
        One process gives at a time here; across processes the transaction itself decides."""
        async with self._giving:
            given = 0
            while self._clock() >= self._paused_until:
                outcome = await self._line.give(
                    slots=self.slots,
                    dialect=self._dialect,
                    policy_for=self._policy_for,
                    intent_for=lambda entry, seconds: self._sessions.session_intent(
                        entry.guild_id,
                        entry.member_id,
                        entry.avatar_label,
                        entry.runway_target,
                        seconds,
                    ),
                    owner=self._identity.id,
                )
                for refused in outcome.refused:
                    await self._tell_removed(Removed(refused.entry, await self._refusal(refused)))
                if outcome.given is None or outcome.session is None:
                    if outcome.refused:
                        await self._notify_change()
                    return given
                try:
                    if await self._hand_over(outcome.given, outcome.session.id):
                        given += 1
                except Exception:  # a bug must not strand the place: back in it, call ended
                    log.exception("waiting line: handing a slot over failed")
                    await self._undo(outcome.given, outcome.session.id)
                await self._notify_change()
            return given

    async def repair(self) -> int:
        """Places left being served by a process that is gone (killed between giving a slot
        and sending its link): the call, if any, is cancelled at no cost and the member gets
        their place back. Returns how many were put back."""
        offering = await self._line.offering()
        if not offering:
            return 0
        dead = set(await self._identity.dead_owners())
        mine = self._identity.id
        put_back = 0
        for entry in offering:
            session = (
                None
                if entry.session_id is None
                else await self._session_rows.by_id(entry.session_id)
            )
            if session is not None and session.owner == mine:
                continue  # this process is serving it now
            if session is not None and session.live and session.owner not in dead:
                continue  # another live process is serving it
            if session is not None and session.live:
                await self._tracker.end_now(session, EndReason.ABANDONED)
            if await self._line.back_in_line(entry.id):
                put_back += 1
        if put_back:
            log.warning("waiting line: %d places a stopped process was serving kept", put_back)
        return put_back

    async def _hand_over(self, entry: LineEntry, session_id: int) -> bool:
        """Set the given call up at Runway and send its link; on failure, the member keeps
        their place (Runway full or unreachable) or leaves the line with the reason."""
        session = await self._session_rows.by_id(session_id)
        assert session is not None, "the call was reserved in the transaction that gave it"
        try:
            started = await self._sessions.open_given(session)
        except SlotsBusy:
            await self._back(entry, "Runway has no free call slot, though the bot counted one")
            return False
        except (RateLimitedError, StillChecking) as error:
            await self._back(entry, error.user_message)
            return False
        except RunwayError as error:
            if error.status is None or error.status >= 500:
                await self._back(entry, error.user_message)
                return False
            await self._removed_now(entry, error.user_message)
            return False
        except UserFacingError as error:  # the avatar can no longer take calls
            await self._removed_now(entry, error.user_message)
            return False
        delivered = True if self._deliver is None else await self._deliver(Offer(entry, started))
        await self._line.served(entry.id)
        if not delivered:
            log.info("waiting line: member %s could not be reached; slot freed", entry.member_id)
            await self._tracker.end_now(started.session, EndReason.CANCELLED)
        return delivered

    async def _undo(self, entry: LineEntry, session_id: int) -> None:
        session = await self._session_rows.by_id(session_id)
        if session is not None and session.live:
            await self._tracker.end_now(session, EndReason.CANCELLED)
        await self._line.back_in_line(entry.id)

    async def _back(self, entry: LineEntry, why: str) -> None:
        """Runway could not take the call now: the member waits again in the same place, and
        the line waits for a call to end (or a while) before trying again."""
        log.warning(
            "waiting line: slot for member %s not set up (%s); trying later", entry.member_id, why
        )
        await self._line.back_in_line(entry.id)
        self._paused_until = self._clock() + self._runway_full_pause

    async def _removed_now(self, entry: LineEntry, reason: str) -> None:
        await self._line.served(entry.id)
        await self._tell_removed(Removed(entry, reason))

    def _policy_for(self, stored: StoredQuotas, entry: LineEntry) -> SlotPolicy:
        member = Actor(user_id=entry.member_id, role_ids=entry.role_ids)
        return FittedPolicy(
            self._quotas.resolve(stored).policy(member), self._sessions.clamp_seconds
        )

    async def _refusal(self, refused: Refused) -> str:
        if refused.limit is None:
            return "The avatar you asked for was deleted meanwhile."
        settings = await self._quotas.settings(refused.entry.guild_id)
        return explain(refused.limit, settings.timezone, self._clock())

    async def _call_seconds(self) -> float:
        seconds, calls = await self._line.recent_calls(
            self._dialect, self._clock() - ESTIMATE_HISTORY_SECONDS
        )
        return seconds / calls if calls and seconds else TYPICAL_CALL_SECONDS

    async def _call_ended(self, _session: object) -> None:
        self._paused_until = 0.0
        self.wake()

    async def _tell_removed(self, removed: Removed) -> None:
        for listener in self._removed:
            try:
                await listener(removed)
            except Exception:  # telling must not stop the line
                log.warning("waiting-line listener failed", exc_info=True)

    async def _notify_change(self) -> None:
        for listener in self._changed:
            try:
                await listener()
            except Exception:  # refreshing what members see must not stop the line
                log.warning("waiting-line listener failed", exc_info=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.repair()  # a process that died mid-offer, at start-up or since
                await self.serve()
            except Exception:  # the loop must survive anything; the next round retries
                log.exception("waiting line: giving slots failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
