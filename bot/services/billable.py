"""Calling Runway for something it bills, under an intent that is always resolved.

The intent is written first (by the caller, in the same transaction as its own record). Then:
an answer means the caller records the object and marks the intent adopted; an error that
proves Runway did nothing closes it as failed; a lost answer (a timeout, a dropped
connection, a server error, the command cancelled) leaves it UNSURE, and Runway's objects are
listed at once, with backoff, to find what it made. Found, the caller carries on as if the
answer had come; proven absent, the member may try again; still unknown, the member is told
the truth (the bot keeps checking and will tell them), and the reconciler finishes the job.

A slow answer never becomes "try again": the member's reply says how long Runway has been
working, every few seconds, for as long as the bot waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol, TypeVar

from bot.errors import UserFacingError
from bot.runway.errors import RunwayError
from bot.storage import Clock, unix_now
from bot.storage.intents import IntentRepository, IntentState

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[str], Awaitable[None]]

SLOW_NOTICE_SECONDS: Final = 8.0
"""After this long without an answer the member's reply says Runway is still working."""
UNSURE_GRACE_SECONDS: Final = 60
"""How long after a lost answer an object may still appear at Runway."""
INLINE_CHECK_SECONDS: Final = 20.0
"""How long the member's reply keeps looking for the object before handing over."""


class IntentKind(StrEnum):
    """Every kind of billable create; a new one (say, avatar videos) is one more value here
    and one more handler in `reconcile_kinds`."""

    AVATAR = "avatar"
    DOCUMENT = "document"
    SESSION = "session"
    VIDEO = "video"


def fingerprint(*parts: str | int | None) -> bytes:
    """What the bot sent, hashed: enough to recognise the object in Runway's listing."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).digest()


@dataclass(frozen=True, slots=True)
class Adopted:
    """The answer was lost, but the object was found at Runway: carry on with its id."""

    runway_id: str


class StillChecking(UserFacingError):
    """Runway has not said whether it acted; the reconciler will find out and tell."""


class NotCreated(UserFacingError):
    """A lost answer, and Runway's listing proves nothing was made."""


class CannotTell(UserFacingError):
    """A lost answer, and a dialect that cannot list: the bot kept nothing, admins are told."""


class Finder(Protocol):
    async def settle(self, intent_id: int, *, within: float) -> IntentState | None:
        """Look for the intent's object until it is resolved or `within` seconds pass;
        the state it was resolved to, or None if still open."""
        ...

    async def runway_id(self, intent_id: int) -> str | None: ...


class BillableCalls:
    def __init__(
        self,
        intents: IntentRepository,
        *,
        clock: Clock = unix_now,
        grace_seconds: int = UNSURE_GRACE_SECONDS,
        inline_seconds: float = INLINE_CHECK_SECONDS,
        slow_notice_seconds: float = SLOW_NOTICE_SECONDS,
    ) -> None:
        self._intents = intents
        self._clock = clock
        self._grace = grace_seconds
        self._inline = inline_seconds
        self._slow_notice = slow_notice_seconds
        self.finder: Finder | None = None

    async def call(
        self,
        intent_id: int,
        create: Callable[[], Awaitable[T]],
        *,
        what: str,
        progress: Progress | None = None,
    ) -> T | Adopted:
        """Run `create`; its result, or the object found in place of a lost answer.

        Raises the RunwayError when Runway certainly did nothing (the intent is closed as
        failed), `NotCreated` when a listing proves it, `StillChecking` when nobody can
        tell yet. `what` names the object for the member ("the avatar Nova").
        """
        try:
            async with _slow_notices(progress, self._slow_notice, what):
                return await create()
        except RunwayError as error:
            if not error.uncertain:
                await self.failed(intent_id, f"Runway refused: {error.user_message}")
                raise
            log.warning("intent %s: Runway's answer was lost (%s); looking", intent_id, error)
            # An error answer ends the request at Runway: a listing now is conclusive. With no
            # answer at all, Runway may still be working on it for a while.
            grace = 0 if error.status is not None else self._grace
            await self._intents.mark_unsure(intent_id, decide_after=self._clock() + grace)
            problem = error.user_message
        except asyncio.CancelledError:
            # The command was cancelled mid-call: Runway may have acted; the reconciler looks.
            await asyncio.shield(
                self._intents.mark_unsure(intent_id, decide_after=self._clock() + self._grace)
            )
            raise
        return await self._look_for(intent_id, what, progress, problem)

    @property
    def intents(self) -> IntentRepository:
        return self._intents

    async def adopted(self, intent_id: int, runway_id: str) -> None:
        """The caller has recorded the object: the intent is done."""
        await self._intents.resolve(intent_id, IntentState.ADOPTED, "created", runway_id=runway_id)

    async def failed(self, intent_id: int, outcome: str) -> None:
        await self._intents.resolve(intent_id, IntentState.FAILED, outcome)

    async def _look_for(
        self, intent_id: int, what: str, progress: Progress | None, problem: str
    ) -> Adopted:
        if progress is not None:
            await progress(f"Runway's answer about {what} got lost; checking whether it made it…")
        state = None
        if self.finder is not None:
            state = await self.finder.settle(intent_id, within=self._inline)
        if state is IntentState.ADOPTED and self.finder is not None:
            runway_id = await self.finder.runway_id(intent_id)
            if runway_id is not None:
                return Adopted(runway_id)
        if state is IntentState.UNRESOLVED:
            raise CannotTell(
                f"{problem} The Runway API this bot is set up for cannot tell whether {what} "
                "was created anyway, so the bot kept nothing (admins see this in `/about`). "
                "You can try again."
            )
        if state is IntentState.FAILED:
            raise NotCreated(
                f"{problem} Runway's own list confirms that {what} was not created, so nothing "
                "was kept or charged."
            )
        raise StillChecking(
            f"Runway has not confirmed {what} yet, and its answer got lost. The bot keeps "
            "checking with Runway and will send you a DM as soon as it knows: no need to "
            "try again."
        )


@contextlib.asynccontextmanager
async def _slow_notices(progress: Progress | None, every: float, what: str) -> AsyncIterator[None]:
    """While the block waits on Runway, tell the member every `every` seconds."""
    if progress is None:
        yield
        return
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def tick() -> None:
        while True:
            await asyncio.sleep(every)
            waited = int(loop.time() - began)
            with contextlib.suppress(Exception):  # a failed edit must not stop the wait
                await progress(
                    f"Runway is still working on {what} ({waited} s so far). "
                    "The bot keeps waiting; no need to try again."
                )

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
