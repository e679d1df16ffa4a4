"""What was said in calls: Runway keeps it, the bot fetches it on demand and deletes it in time.

Runway's production API keeps each call as a conversation: a transcript of up to 1,000 turns
and a recording whose download link expires within a day or two (fetching the conversation
again gives a fresh one). The bot stores none of it: every transcript and every recording
link is fetched from Runway when it is shown. Each server decides (Manage Server) whether
transcripts are shown to no one, sent to the member (and looked up by admins), or also posted
in a moderation log; whether recordings are offered; and after how many days the bot deletes
a call's conversation at Runway. A member who asks to be forgotten has theirs deleted at once.
A deletion Runway refuses is kept, retried with backoff and reported, never dropped.

The seed description has no conversations: every entry point says so plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import ConflictError, RunwayError
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.models import ConversationDetail, ConversationStatus
from bot.services.actors import Actor, Permissions
from bot.services.background import Background
from bot.storage import (
    UNSET,
    AuditEvent,
    AuditRepository,
    Avatar,
    Clock,
    GuildSettings,
    GuildSettingsRepository,
    Session,
    SessionRepository,
    SessionState,
    Unset,
    unix_now,
)
from bot.storage.audit import LOOKED_UP_MEMBER
from bot.storage.conversations import (
    ConversationRepository,
    FailingDeletions,
    KeptConversation,
)

log = logging.getLogger(__name__)

MAX_KEEP_DAYS: Final = 365
HISTORY_CALLS: Final = 50
"""Calls a history or a look-up goes back through, newest first."""
RECORDING_LINK_SECONDS: Final = 24 * 3600
"""How long Runway's recording links work at least (it says 24 to 48 hours)."""
DELETION_INTERVAL_SECONDS: Final = 600.0
DELETION_BATCH: Final = 100
RETRY_FIRST_SECONDS: Final = 300
RETRY_LONGEST_SECONDS: Final = 6 * 3600
REPORT_AFTER_ATTEMPTS: Final = 3
"""A deletion that failed this often is written to the server's audit log (once)."""
NO_CONVERSATIONS: Final = (
    "The Runway API this bot is set up for (the seed description) keeps no transcripts or "
    "recordings of calls, so there are none to show."
)
GONE: Final = (
    "Runway no longer keeps this call's transcript and recording: they were deleted (after "
    "this server's retention, or on request)."
)
LOOKUP: Final = "call.lookup"
RECORDING_FETCHED: Final = "call.recording"
DELETE_FAILING: Final = "call.delete_failing"


class TranscriptSharing(StrEnum):
    OFF = "off"
    """Runway keeps it; the bot shows it to no one."""
    MEMBER = "member"
    """Sent to the member after the call; the server's admins may look it up."""
    MODERATION = "moderation"
    """As MEMBER, and posted with each call in the server's moderation log."""


@dataclass(frozen=True, slots=True)
class CallSettings:
    transcripts: TranscriptSharing
    recordings: bool
    moderation_channel_id: int | None
    keep_days: int | None
    """Days after which the bot deletes a call's conversation at Runway (None: it never does)."""
    supported: bool
    """Whether the Runway API the bot speaks keeps conversations at all."""


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What the join page tells the member before they press Join."""

    transcript: str
    recording: str
    kept: str


class Speaker(StrEnum):
    MEMBER = "member"
    AVATAR = "avatar"


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    at: int | None
    """Seconds since the call began (None when Runway gave no time)."""
    speaker: Speaker
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    lines: tuple[TranscriptLine, ...]
    in_progress: bool


@dataclass(frozen=True, slots=True)
class Fetched:
    """A call's transcript, or why there is none to show (for the member to read)."""

    transcript: Transcript | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingLink:
    url: str
    expires_at: int
    """When the link stops working at the earliest."""


@dataclass(slots=True)
class Deletions:
    deleted: int = 0
    failed: int = 0
    last_error: str | None = None


class ConversationService:
    def __init__(
        self,
        *,
        conversations: ConversationRepository,
        sessions: SessionRepository,
        guilds: GuildSettingsRepository,
        audit: AuditRepository,
        runway: RunwayClient,
        clock: Clock = unix_now,
        interval: float = DELETION_INTERVAL_SECONDS,
    ) -> None:
        self._conversations = conversations
        self._sessions = sessions
        self._guilds = guilds
        self._audit = audit
        self._runway = runway
        self._clock = clock
        self._interval = interval
        self._wake = asyncio.Event()
        self._loop = Background("conversation-deletions", self._run)

    @property
    def supported(self) -> bool:
        return self._runway.rules.supports(Operation.CONVERSATION_GET)

    # Settings (Manage Server)

    async def settings(self, guild_id: int) -> CallSettings:
        return self._settings(await self._guilds.get(guild_id))

    async def update(
        self,
        guild_id: int,
        actor: Actor,
        *,
        transcripts: TranscriptSharing | Unset = UNSET,
        recordings: bool | Unset = UNSET,
        moderation_channel_id: int | Unset | None = UNSET,
        keep_days: int | Unset | None = UNSET,
    ) -> CallSettings:
        """Change what the server does with its calls' transcripts and recordings; a keep of
        None (or 0) means the bot never deletes them at Runway."""
        Permissions.require_admin(actor, doing="Choosing what happens to calls' transcripts")
        if not self.supported:
            raise InvalidInput(NO_CONVERSATIONS)
        if isinstance(keep_days, int) and not 1 <= keep_days <= MAX_KEEP_DAYS:
            raise InvalidInput(
                f"Keep conversations at Runway for 1 to {MAX_KEEP_DAYS} days, or 0 to keep them "
                "until someone asks to delete theirs."
            )
        current = await self._guilds.get(guild_id)
        channel = (
            current.moderation_channel_id
            if isinstance(moderation_channel_id, Unset)
            else moderation_channel_id
        )
        sharing = current.transcripts if isinstance(transcripts, Unset) else transcripts
        if sharing == TranscriptSharing.MODERATION and channel is None:
            raise InvalidInput(
                "Posting transcripts to the moderation log needs a moderation log channel: "
                "choose one with `moderation_log` as well."
            )
        updated = await self._guilds.update(
            guild_id,
            transcripts=transcripts if isinstance(transcripts, Unset) else transcripts.value,
            recordings=recordings,
            moderation_channel_id=moderation_channel_id,
            conversation_days=keep_days,
        )
        if not isinstance(keep_days, Unset):
            self._wake.set()  # a shorter retention deletes what it makes due at once
        return self._settings(updated)

    async def disclosure(self, guild_id: int) -> Disclosure:
        """What the join page says about the call's transcript and recording."""
        settings = await self.settings(guild_id)
        if not settings.supported:
            none = "Not kept: this bot's Runway API keeps no transcripts or recordings"
            return Disclosure(none, none, "Nothing is kept")
        transcript = {
            TranscriptSharing.OFF: "Kept by Runway; this server shows it to no one",
            TranscriptSharing.MEMBER: "Kept by Runway; sent to you after the call, and this "
            "server's admins can look it up",
            TranscriptSharing.MODERATION: "Kept by Runway; sent to you after the call and "
            "posted for this server's moderators",
        }[settings.transcripts]
        recording = (
            "Kept by Runway; you and this server's admins can download it after the call"
            if settings.recordings
            else "Kept by Runway; this server offers it to no one"
        )
        kept = (
            f"{settings.keep_days} days at Runway, then the bot deletes both"
            if settings.keep_days is not None
            else "At Runway until deleted (/privacy forget-me deletes yours)"
        )
        return Disclosure(transcript, recording, kept)

    # What was said

    async def transcript(self, session: Session) -> Fetched:
        """The call's transcript as Runway has it now, or why it cannot be shown."""
        settings = await self.settings(session.guild_id)
        if not settings.supported:
            return Fetched(None, NO_CONVERSATIONS)
        if settings.transcripts is TranscriptSharing.OFF:
            return Fetched(None, "This server doesn't share transcripts of its calls.")
        if session.runway_id is None or session.consumed_at is None:
            return Fetched(None, "Nothing was said: nobody joined this call.")
        detail = await self._conversation(session.runway_id)
        if isinstance(detail, str):
            return Fetched(None, detail)
        return Fetched(_transcript(detail))

    async def recording(self, session_id: int, actor: Actor, guild_id: int | None) -> RecordingLink:
        """A fresh download link for the call's recording: for the member who had the call,
        or an admin of its server (asking from that server; written to its audit log)."""
        session = await self._sessions.by_id(session_id)
        if session is None:
            raise NotFound("This call is no longer in the bot's records.")
        owner = actor.user_id == session.member_id
        if not owner and not (guild_id == session.guild_id and actor.manages_guild):
            raise NotAllowed(
                "Only the member who had this call, or an admin of its server, can get its "
                "recording."
            )
        settings = await self.settings(session.guild_id)
        if not settings.supported:
            raise InvalidInput(NO_CONVERSATIONS)
        if not settings.recordings:
            raise InvalidInput("This server doesn't offer recordings of its calls.")
        if session.runway_id is None or session.consumed_at is None:
            raise NotFound("There is no recording: nobody joined this call.")
        detail = await self._conversation(session.runway_id)
        if isinstance(detail, str):
            raise NotFound(detail)
        if detail.recording_url is None:
            raise NotFound(
                "The call is still going: its recording comes once it ends."
                if detail.status is ConversationStatus.IN_PROGRESS
                else "Runway has no recording of this call."
            )
        if not owner:
            await self._audit.record(
                session.guild_id,
                AuditEvent(
                    actor.user_id,
                    RECORDING_FETCHED,
                    session.avatar_label,
                    {LOOKED_UP_MEMBER: str(session.member_id), "session": session.id},
                ),
            )
        return RecordingLink(detail.recording_url, self._clock() + RECORDING_LINK_SECONDS)

    async def history(self, guild_id: int, actor: Actor) -> list[Session]:
        """The member's own recent calls here, newest first."""
        self._require_supported()
        return await self._sessions.recent_calls(
            guild_id, member_id=actor.user_id, limit=HISTORY_CALLS
        )

    async def lookup(
        self,
        guild_id: int,
        actor: Actor,
        *,
        member_id: int | None = None,
        avatar: Avatar | None = None,
    ) -> list[Session]:
        """A member's or an avatar's recent calls in the server, for its admins; the look-up
        is written to the server's audit log."""
        Permissions.require_admin(actor, doing="Looking up calls")
        self._require_supported()
        if (member_id is None) == (avatar is None):
            raise InvalidInput("Look up the calls of one member, or of one avatar.")
        if avatar is not None:
            found = await self._sessions.recent_calls(
                guild_id, avatar_id=avatar.id, limit=HISTORY_CALLS
            )
            event = AuditEvent(actor.user_id, LOOKUP, avatar.name, {"avatar_id": avatar.id})
        else:
            found = await self._sessions.recent_calls(
                guild_id, member_id=member_id, limit=HISTORY_CALLS
            )
            event = AuditEvent(
                actor.user_id, LOOKUP, "a member's calls", {LOOKED_UP_MEMBER: str(member_id)}
            )
        await self._audit.record(guild_id, event)
        return found

    # Deleting at Runway

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def failing(self, guild_id: int) -> FailingDeletions:
        return await self._conversations.failing(guild_id)

    async def delete_due(self) -> Deletions:
        """Delete at Runway every conversation whose time is up, and those of forgotten
        members; a refusal is kept for a later try."""
        done = Deletions()
        if not self._runway.rules.supports(Operation.CONVERSATION_DELETE):
            return done
        for rule in await self._conversations.rules():
            for kept in await self._conversations.due(rule, limit=DELETION_BATCH):
                await self._delete(kept, done)
        for kept in await self._conversations.forgotten(limit=DELETION_BATCH):
            await self._delete(kept, done)
        if done.deleted or done.failed:
            log.log(
                logging.WARNING if done.failed else logging.INFO,
                "conversations at Runway: %d deleted, %d refused (retried later)%s",
                done.deleted,
                done.failed,
                f": {done.last_error}" if done.last_error else "",
            )
        return done

    async def forget_now(self, guild_id: int) -> Deletions:
        """Delete at once, at Runway, the conversations a member of this server just asked to
        be forgotten from; what Runway refuses stays queued for the scheduled retries."""
        done = Deletions()
        if not self._runway.rules.supports(Operation.CONVERSATION_DELETE):
            return done
        while True:
            batch = await self._conversations.forgotten(limit=DELETION_BATCH, guild_id=guild_id)
            for kept in batch:
                await self._delete(kept, done)
            if done.failed or len(batch) < DELETION_BATCH:
                return done

    async def _delete(self, kept: KeptConversation, done: Deletions) -> None:
        try:
            await self._runway.delete_conversation(kept.runway_id)
        except RunwayNotFound:
            pass  # already gone at Runway: nothing left to delete
        except RunwayError as error:
            done.failed += 1
            done.last_error = error.user_message
            wait = (
                RETRY_FIRST_SECONDS
                if isinstance(error, ConflictError)  # still in progress
                else min(RETRY_LONGEST_SECONDS, RETRY_FIRST_SECONDS * 2**kept.attempts)
            )
            attempts = await self._conversations.failed(
                kept.runway_id, error.user_message, retry_after=wait
            )
            if attempts == REPORT_AFTER_ATTEMPTS:
                await self._audit.record(
                    kept.guild_id,
                    AuditEvent(
                        None,
                        DELETE_FAILING,
                        "a call's transcript and recording",
                        {"problem": error.user_message, "attempts": attempts},
                    ),
                )
            return
        await self._conversations.deleted(kept.runway_id)
        done.deleted += 1

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.delete_due()
            except Exception:  # the loop must survive anything; the next run retries
                log.exception("deleting conversations at Runway failed; retrying later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)

    # Plumbing

    async def _conversation(self, runway_id: str) -> ConversationDetail | str:
        """The conversation, or why it cannot be had (a sentence for the member)."""
        if not await self._conversations.kept(runway_id):
            return GONE
        try:
            return await self._runway.get_conversation(runway_id)
        except RunwayNotFound:
            with contextlib.suppress(Exception):  # Runway no longer has it: nothing to delete
                await self._conversations.deleted(runway_id)
            return GONE
        except RunwayError as error:
            return f"Runway could not be asked for it just now: {error.user_message}"

    def _require_supported(self) -> None:
        if not self.supported:
            raise InvalidInput(NO_CONVERSATIONS)

    def _settings(self, guild: GuildSettings) -> CallSettings:
        return CallSettings(
            transcripts=TranscriptSharing(guild.transcripts),
            recordings=guild.recordings,
            moderation_channel_id=guild.moderation_channel_id,
            keep_days=guild.conversation_days,
            supported=self.supported,
        )


def _transcript(detail: ConversationDetail) -> Transcript:
    began: datetime | None = detail.started_at or (
        detail.transcript[0].timestamp if detail.transcript else None
    )
    lines = []
    for entry in detail.transcript:
        if entry.content is None or not entry.content.strip():
            continue  # a turn that only used tools
        at = (
            max(0, int((entry.timestamp - began).total_seconds()))
            if entry.timestamp is not None and began is not None
            else None
        )
        speaker = Speaker.MEMBER if entry.role == "user" else Speaker.AVATAR
        lines.append(TranscriptLine(at, speaker, entry.content))
    return Transcript(tuple(lines), detail.status is ConversationStatus.IN_PROGRESS)


def is_call(session: Session) -> bool:
    """A session that became a call someone joined (the only kind with something said)."""
    return session.state is SessionState.SETTLED and session.consumed_at is not None
