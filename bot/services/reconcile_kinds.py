"""How each kind of billable object is found at Runway and what is done with it.

A handler answers four questions for its kind: did the bot already record the object (then
the intent is simply adopted); which of Runway's objects match what the bot sent (same kind,
name, content fingerprint, avatar, and created in the intent's time window); what to do with
one found after the member was told otherwise; and what to do when none exists. Objects that
match no intent are never touched: the Runway account may be shared with other apps.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol, TypeVar

from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.models import AvatarStatus as RunwayStatus
from bot.runway.models import Page
from bot.services.billable import IntentKind, fingerprint
from bot.storage import (
    Avatar,
    AvatarRepository,
    AvatarStatus,
    DocumentRepository,
    EndReason,
    SessionRepository,
    SessionState,
)
from bot.storage.intents import Intent, IntentState

log = logging.getLogger(__name__)

T = TypeVar("T")

SKEW_SECONDS: Final = 120
"""Slack on both sides of an intent's window, for clocks that disagree."""
MAX_PAGES: Final = 20
PRESET_TARGET: Final = "preset:"


@dataclass(frozen=True, slots=True)
class Resolution:
    state: IntentState
    outcome: str
    """For admins and the log."""
    member_message: str | None = None
    """What the member who asked is told by DM, if anything."""
    runway_id: str | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """Runway's objects in an intent's window: those matching it, oldest first, and every
    id seen (the reconciler reports the ones nobody can account for)."""

    matches: list[str]
    seen: list[str]
    only_if_alone: bool = False
    """The match is weak (a Runway preset anyone on the account may use): it counts only
    when exactly one unclaimed object matches; several are reported, none touched."""


class KindHandler(Protocol):
    kind: IntentKind

    def can_list(self) -> bool: ...

    async def own_runway_id(self, intent: Intent) -> str | None: ...

    async def listed(self, intent: Intent) -> Listing: ...

    async def found(self, intent: Intent, runway_id: str) -> Resolution: ...

    async def absent(self, intent: Intent) -> Resolution: ...

    async def unresolvable(self, intent: Intent) -> Resolution: ...


def avatar_fingerprint(name: str, personality: str, voice: str, start_script: str | None) -> bytes:
    return fingerprint(IntentKind.AVATAR, name, personality, voice, start_script or None)


def document_fingerprint(name: str, content: str) -> bytes:
    return fingerprint(IntentKind.DOCUMENT, name, content)


def session_fingerprint(target: str, max_seconds: int) -> bytes:
    return fingerprint(IntentKind.SESSION, target, max_seconds)


def window(intent: Intent) -> tuple[datetime, datetime]:
    start = datetime.fromtimestamp(intent.created_at - SKEW_SECONDS, UTC)
    end = datetime.fromtimestamp(intent.decide_after + SKEW_SECONDS, UTC)
    return start, end


def _within(moment: datetime, bounds: tuple[datetime, datetime]) -> bool:
    return bounds[0] <= moment < bounds[1]


async def _listed(
    fetch: Callable[[str | None], Awaitable[Page[T]]],
    *,
    past: Callable[[T], bool] | None = None,
) -> AsyncIterator[T]:
    """Every item of a cursor-paged listing (at most MAX_PAGES pages); with `past`, stop
    after a page whose last item is past what is wanted (a listing sorted newest first)."""
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await fetch(cursor)
        for item in page.data:
            yield item
        done = past is not None and bool(page.data) and past(page.data[-1])
        if done or not page.has_more or not page.next_cursor:
            return
        cursor = page.next_cursor


def _oldest_first(matches: list[tuple[datetime, str]]) -> list[str]:
    return [runway_id for _, runway_id in sorted(matches)]


class AvatarHandler:
    kind = IntentKind.AVATAR

    def __init__(self, avatars: AvatarRepository, runway: RunwayClient) -> None:
        self._avatars = avatars
        self._runway = runway

    def can_list(self) -> bool:
        return self._runway.rules.supports(Operation.AVATAR_LIST)

    async def own_runway_id(self, intent: Intent) -> str | None:
        record = await self._record(intent)
        return None if record is None else record.runway_id

    async def listed(self, intent: Intent) -> Listing:
        bounds = window(intent)
        matches, seen = [], []
        async for remote in _listed(
            lambda cursor: self._runway.list_avatars(limit=100, cursor=cursor)
        ):
            if not _within(remote.created_at, bounds):
                continue
            seen.append(remote.id)
            voice = remote.voice.preset_id if remote.voice else None
            sent = avatar_fingerprint(
                remote.name, remote.personality or "", voice or "", remote.start_script
            )
            if remote.name == intent.name and sent == intent.fingerprint:
                matches.append((remote.created_at, remote.id))
        return Listing(_oldest_first(matches), seen)

    async def found(self, intent: Intent, runway_id: str) -> Resolution:
        record = await self._record(intent)
        if record is None or record.runway_id not in (None, runway_id):
            await self._delete_remote(runway_id)
            return Resolution(
                IntentState.REMOVED,
                f"avatar {intent.name!r} found at Runway after its record was gone: deleted",
                runway_id=runway_id,
            )
        remote = await self._runway.get_avatar(runway_id)
        await self._avatars.update(
            intent.guild_id,
            record.id,
            runway_id=runway_id,
            status=AvatarStatus(remote.status.value),
            failure_reason=remote.failure_reason,
            processed_image_uri=remote.processed_image_uri,
            reference_image_uri=remote.reference_image_uri,
        )
        if remote.status is RunwayStatus.FAILED:
            await self._delete_remote(runway_id)
            await self._avatars.delete(intent.guild_id, record.id)
            return Resolution(
                IntentState.REMOVED,
                f"avatar {intent.name!r} found at Runway, failed there: deleted",
                f"Runway did get the avatar **{intent.name}** after all, but could not make it "
                f"({remote.failure_reason or 'no reason given'}). Nothing was kept; try another "
                "image.",
                runway_id,
            )
        ready = remote.status is RunwayStatus.READY
        return Resolution(
            IntentState.ADOPTED,
            f"avatar {intent.name!r} found at Runway after its answer was lost: adopted",
            f"Runway did make the avatar **{intent.name}** after all: "
            + ("it is ready." if ready else "Runway is still preparing it; `/avatar show` tells.")
            + " No need to create it again.",
            runway_id,
        )

    async def absent(self, intent: Intent) -> Resolution:
        await self._free_name(intent)
        return Resolution(
            IntentState.FAILED,
            f"avatar {intent.name!r} never made at Runway: name freed",
            f"Runway never made the avatar **{intent.name}** (the bot checked its list). "
            "Nothing was kept or charged, and the name is free: create it again.",
        )

    async def unresolvable(self, intent: Intent) -> Resolution:
        await self._free_name(intent)
        return Resolution(
            IntentState.UNRESOLVED,
            f"avatar {intent.name!r}: Runway's answer was lost and this Runway API cannot list "
            "avatars, so whether it exists there is unknown; name freed",
            f"The bot lost Runway's answer about the avatar **{intent.name}**, and the Runway "
            "API it is set up for cannot say whether it was made. Its name is free again: "
            "create it again. An admin can see this in `/about`.",
        )

    async def _record(self, intent: Intent) -> Avatar | None:
        if intent.record_id is None:
            return None
        return await self._avatars.get(intent.guild_id, intent.record_id)

    async def _free_name(self, intent: Intent) -> None:
        record = await self._record(intent)
        if record is not None and record.runway_id is None:
            await self._avatars.delete(intent.guild_id, record.id)

    async def _delete_remote(self, runway_id: str) -> None:
        if self._runway.rules.supports(Operation.AVATAR_DELETE):
            with contextlib.suppress(RunwayNotFound):
                await self._runway.delete_avatar(runway_id)


class DocumentHandler:
    kind = IntentKind.DOCUMENT

    def __init__(self, documents: DocumentRepository, runway: RunwayClient) -> None:
        self._documents = documents
        self._runway = runway

    def can_list(self) -> bool:
        return self._runway.rules.supports(Operation.DOCUMENT_LIST)

    async def own_runway_id(self, intent: Intent) -> str | None:
        avatar_id = intent.detail.get("avatar_id")
        if not isinstance(avatar_id, int):
            return None
        record = await self._documents.added_since(
            intent.guild_id, avatar_id, intent.name, intent.created_at
        )
        return None if record is None else record.runway_id

    async def listed(self, intent: Intent) -> Listing:
        bounds = window(intent)
        matches, seen = [], []
        async for remote in _listed(
            lambda cursor: self._runway.list_documents(limit=100, cursor=cursor),
            past=lambda document: document.created_at < bounds[0],
        ):
            if not _within(remote.created_at, bounds):
                continue
            seen.append(remote.id)
            if remote.name != intent.name:
                continue
            full = await self._runway.get_document(remote.id)
            if document_fingerprint(full.name, full.content or "") == intent.fingerprint:
                matches.append((remote.created_at, remote.id))
        return Listing(_oldest_first(matches), seen)

    async def found(self, intent: Intent, runway_id: str) -> Resolution:
        with contextlib.suppress(RunwayNotFound):
            await self._runway.delete_document(runway_id)
        return Resolution(
            IntentState.REMOVED,
            f"document {intent.name!r} found at Runway, never attached: deleted",
            f"The knowledge file **{intent.name}** was not added (the bot lost track of it "
            "half-way); what Runway had received was removed. Add it again with "
            "`/knowledge add`.",
            runway_id,
        )

    async def absent(self, intent: Intent) -> Resolution:
        return Resolution(
            IntentState.FAILED,
            f"document {intent.name!r} never made at Runway",
            f"The knowledge file **{intent.name}** was not added: Runway never received it. "
            "Add it again with `/knowledge add`.",
        )

    async def unresolvable(self, intent: Intent) -> Resolution:
        return Resolution(
            IntentState.UNRESOLVED,
            f"document {intent.name!r}: answer lost and this Runway API cannot list documents",
            f"The knowledge file **{intent.name}** was not added. Add it again with "
            "`/knowledge add`.",
        )


class SessionHandler:
    kind = IntentKind.SESSION

    def __init__(
        self,
        sessions: SessionRepository,
        runway: RunwayClient,
        cancel: CancelRemote,
    ) -> None:
        self._sessions = sessions
        self._runway = runway
        self._cancel = cancel

    def can_list(self) -> bool:
        return self._runway.rules.supports(Operation.CONVERSATION_LIST)

    async def own_runway_id(self, intent: Intent) -> str | None:
        if intent.record_id is None:
            return None
        session = await self._sessions.by_id(intent.record_id)
        return None if session is None else session.runway_id

    async def listed(self, intent: Intent) -> Listing:
        start, end = window(intent)
        target = intent.target or ""
        preset = target.removeprefix(PRESET_TARGET) if target.startswith(PRESET_TARGET) else None
        matches, seen = [], []
        async for remote in _listed(
            lambda cursor: self._runway.list_conversations(
                start=start, end=end, avatar_id=None if preset else target, cursor=cursor
            )
        ):
            seen.append(remote.id)
            shown = remote.avatar
            same = shown is not None and (
                shown.preset_id == preset if preset else shown.id == target
            )
            if same:
                matches.append((remote.created_at, remote.id))
        return Listing(_oldest_first(matches), seen, only_if_alone=preset is not None)

    async def found(self, intent: Intent, runway_id: str) -> Resolution:
        await self._cancel(runway_id)
        if intent.record_id is not None:  # released and named in one transaction
            await self._sessions.release_found(intent.record_id, runway_id)
        return Resolution(
            IntentState.REMOVED,
            f"session for {intent.name!r} found at Runway after its start failed: cancelled",
            f"Your call with **{intent.name}** could not be set up: Runway started it after "
            "the bot had lost track of it, so the bot cancelled it. It costs nothing. Run "
            "`/session start` to call again.",
            runway_id,
        )

    async def absent(self, intent: Intent) -> Resolution:
        await self._end_reservation(intent)
        return Resolution(
            IntentState.FAILED,
            f"session for {intent.name!r} never started at Runway: reservation released",
            f"Your call with **{intent.name}** never started at Runway, so it costs nothing. "
            "Run `/session start` to call again.",
        )

    async def unresolvable(self, intent: Intent) -> Resolution:
        await self._end_reservation(intent)
        seconds = intent.detail.get("max_seconds")
        return Resolution(
            IntentState.UNRESOLVED,
            f"session for {intent.name!r}: answer lost and this Runway API cannot list or "
            f"cancel sessions; if Runway started it, it ends by itself after {seconds} s",
            f"Your call with **{intent.name}** could not be set up, and your reservation was "
            "released. Run `/session start` to call again.",
        )

    async def _end_reservation(self, intent: Intent) -> None:
        if intent.record_id is None:
            return
        session = await self._sessions.by_id(intent.record_id)
        if session is not None and session.state is SessionState.RESERVED:
            await self._sessions.release(session.id, EndReason.START_FAILED)


class CancelRemote(Protocol):
    async def __call__(self, runway_id: str) -> None: ...
