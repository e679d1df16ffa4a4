"""Avatars: creating them at Runway, keeping the server's records, review and audit.

A server's avatars live in its own records: every lookup takes the guild id, so another
server's avatar cannot be seen or used, whatever id a member types. The record is written
before Runway is called (the name is claimed atomically) and removed again if Runway
refuses, so nothing half-made is ever usable.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from bot.errors import InvalidInput, NotFound
from bot.net.safe_fetch import SafeFetcher
from bot.runway import catalog
from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.errors import RunwayError, RunwayTimeoutError
from bot.runway.models import Avatar as RunwayAvatar
from bot.runway.models import AvatarChanges, AvatarSpec
from bot.runway.models import AvatarStatus as RunwayStatus
from bot.services.actors import Actor, Permissions
from bot.services.avatar_pictures import AvatarPictures, Picture
from bot.services.billable import (
    Adopted,
    BillableCalls,
    CannotTell,
    IntentKind,
    NotCreated,
    StillChecking,
)
from bot.services.document_cleanup import delete_everywhere
from bot.services.images import MAX_IMAGE_BYTES, PreparedImage, encode
from bot.services.processes import ProcessIdentity
from bot.services.reconcile_kinds import avatar_fingerprint
from bot.services.text_rules import clean_name, clean_personality, clean_start_script
from bot.services.voices import VoiceCatalog
from bot.storage import (
    UNSET,
    AuditEntry,
    AuditEvent,
    AuditRepository,
    Avatar,
    AvatarRepository,
    AvatarStatus,
    DocumentRepository,
    DuplicateNameError,
    JsonValue,
    NewAvatar,
    ReviewState,
    row_id,
    unix_now,
)
from bot.storage import LimitReached as StorageLimit
from bot.storage.intents import NewIntent
from bot.workers.pool import WorkerPool

log = logging.getLogger(__name__)

AVATAR_WAIT_SECONDS: Final = 600.0
PREPARING: Final = "Runway is preparing the avatar (this can take a minute)…"
Progress = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AvatarDraft:
    name: str
    personality: str
    voice: str
    start_script: str | None = None


@dataclass(frozen=True, slots=True)
class ImageUpload:
    """An image attached to the command: its bytes, and Discord's (expiring) link to it."""

    data: bytes
    url: str


@dataclass(frozen=True, slots=True)
class ImageLink:
    """An https address a member typed; the bot fetches it itself, fenced."""

    url: str


ImageSource = ImageUpload | ImageLink


@dataclass(frozen=True, slots=True)
class CreatedAvatar:
    avatar: Avatar
    awaiting_review: bool
    still_processing: bool


@dataclass(frozen=True, slots=True)
class AvatarPage:
    avatars: list[Avatar]
    page: int
    pages: int
    total: int


class AvatarService:
    def __init__(
        self,
        *,
        avatars: AvatarRepository,
        documents: DocumentRepository,
        audit: AuditRepository,
        permissions: Permissions,
        runway: RunwayClient,
        voices: VoiceCatalog,
        pictures: AvatarPictures,
        billable: BillableCalls,
        identity: ProcessIdentity,
        images: WorkerPool,
        fetcher: SafeFetcher | None = None,
        wait_seconds: float = AVATAR_WAIT_SECONDS,
        poll_interval: float = 2.0,
    ) -> None:
        self._avatars = avatars
        self._documents = documents
        self._audit = audit
        self._permissions = permissions
        self._runway = runway
        self._billable = billable
        self._identity = identity
        self._images = images
        self.voices = voices
        self._pictures = pictures
        self._fetcher = fetcher or SafeFetcher(max_bytes=MAX_IMAGE_BYTES)
        self._wait_seconds = wait_seconds
        self._poll_interval = poll_interval

    def clean_draft(
        self, *, name: str, personality: str, voice: str, start_script: str | None
    ) -> AvatarDraft:
        """Check everything typed before any slow work, so a mistake costs nothing."""
        return AvatarDraft(
            name=clean_name(name),
            personality=clean_personality(personality),
            voice=self.voices.validate(voice),
            start_script=clean_start_script(start_script),
        )

    async def check_creatable(self, guild_id: int, actor: Actor, name: str) -> None:
        """Fail fast (before the personality modal) on permissions and a taken name."""
        await self._permissions.require_manager(guild_id, actor, doing="Creating avatars")
        cleaned = clean_name(name)
        if await self._avatars.get_by_name(guild_id, cleaned) is not None:
            raise InvalidInput(f"This server already has an avatar called {cleaned}.")

    async def create(
        self,
        guild_id: int,
        actor: Actor,
        draft: AvatarDraft,
        image: ImageSource,
        *,
        progress: Progress,
        max_avatars: int | None = None,
    ) -> CreatedAvatar:
        settings = await self._permissions.require_manager(
            guild_id, actor, doing="Creating avatars"
        )
        await progress("Checking the image…")
        reference, source_url, picture = await self._reference_image(image, progress)
        review = ReviewState.PENDING if settings.approval_required else ReviewState.APPROVED
        spec = AvatarSpec(
            name=draft.name,
            reference_image=reference,
            personality=draft.personality,
            voice_preset=draft.voice,
            start_script=draft.start_script,
        )
        intent = NewIntent(
            kind=IntentKind.AVATAR,
            guild_id=guild_id,
            member_id=actor.user_id,
            name=draft.name,
            fingerprint=avatar_fingerprint(
                draft.name, draft.personality, draft.voice, draft.start_script
            ),
            decide_after=unix_now() + int(self._runway.create_read_seconds),
        )
        try:
            record, intent_id = await self._avatars.add_with_intent(
                NewAvatar(
                    guild_id=guild_id,
                    name=draft.name,
                    personality=draft.personality,
                    voice_preset=draft.voice,
                    created_by=actor.user_id,
                    start_script=draft.start_script,
                    image_source_url=source_url,
                    review_state=review,
                ),
                intent,
                self._identity.id,
                max_avatars=max_avatars,
            )
        except DuplicateNameError:
            raise InvalidInput(f"This server already has an avatar called {draft.name}.") from None
        except StorageLimit as limit:
            raise InvalidInput(
                f"This server has reached its limit of {limit.allowed} avatars; "
                "delete one before creating another."
            ) from None
        await self._pictures.keep_supplied(guild_id, record.id, picture)

        await progress("Sending the avatar to Runway…")
        try:
            answer = await self._billable.call(
                intent_id,
                lambda: self._runway.create_avatar(spec),
                what=f"the avatar {draft.name}",
                progress=progress,
            )
        except StillChecking:
            raise  # the placeholder keeps the name while the reconciler finds out
        except (RunwayError, NotCreated, CannotTell):
            await self._avatars.delete(guild_id, record.id)
            raise
        created = (
            await self._runway.get_avatar(answer.runway_id)
            if isinstance(answer, Adopted)
            else answer
        )
        record = await self._store_runway_state(guild_id, record.id, created, first=True)
        await self._billable.adopted(intent_id, created.id)
        await self._audit.record(
            guild_id,
            AuditEvent(
                actor.user_id,
                "avatar.create",
                draft.name,
                {"avatar_id": record.id, "voice": draft.voice, "review": review.value},
            ),
        )
        if created.status is RunwayStatus.PROCESSING:
            await progress(PREPARING)
            record = await self._follow(guild_id, record, progress)
        if record.status is AvatarStatus.FAILED:
            await self._discard_failed(guild_id, actor, record)
        return CreatedAvatar(
            avatar=record,
            awaiting_review=record.review_state is ReviewState.PENDING,
            still_processing=record.status is AvatarStatus.PROCESSING,
        )

    async def resolve(self, guild_id: int, value: str) -> Avatar:
        """An avatar of this server from an autocomplete id or a typed name."""
        text = value.strip()
        found: Avatar | None = None
        if (number := row_id(text)) is not None:
            found = await self._avatars.get(guild_id, number)
        if found is None and text:
            try:
                found = await self._avatars.get_by_name(guild_id, text)
            except ValueError:
                found = None
        if found is None:
            raise NotFound(
                "This server has no avatar by that name. Pick one from the list as you type."
            )
        return found

    async def show(self, guild_id: int, value: str) -> Avatar:
        """The avatar, refreshed from Runway while it is still processing."""
        avatar = await self.resolve(guild_id, value)
        if (
            avatar.status is AvatarStatus.PROCESSING
            and avatar.runway_id
            and self._runway.rules.supports(Operation.AVATAR_GET)
        ):
            try:
                fresh = await self._runway.get_avatar(avatar.runway_id)
            except RunwayError:
                log.info("could not refresh avatar %s from Runway", avatar.id, exc_info=True)
                return avatar
            avatar = await self._store_runway_state(guild_id, avatar.id, fresh)
        return avatar

    async def search(self, guild_id: int, text: str, *, usable_only: bool = False) -> list[Avatar]:
        return await self._avatars.search(guild_id, text, limit=25, usable_only=usable_only)

    async def page(self, guild_id: int, page: int, *, per_page: int = 5) -> AvatarPage:
        total = await self._avatars.count(guild_id)
        pages = max(1, -(-total // per_page))
        page = min(max(page, 0), pages - 1)
        avatars = await self._avatars.list_page(guild_id, limit=per_page, offset=page * per_page)
        return AvatarPage(avatars=avatars, page=page, pages=pages, total=total)

    async def picture(self, guild_id: int, avatar_id: int) -> Picture | None:
        """The avatar's picture for a join page or a review post; None if it has none (or
        is gone)."""
        avatar = await self._avatars.get(guild_id, avatar_id)
        return None if avatar is None else await self._pictures.picture(avatar)

    async def knowledge_tokens(self, guild_id: int, avatar_id: int) -> int:
        return await self._documents.tokens_for_avatar(guild_id, avatar_id)

    async def edit(
        self,
        guild_id: int,
        actor: Actor,
        avatar: Avatar,
        *,
        name: str,
        personality: str,
        start_script: str | None,
        voice: str | None = None,
    ) -> Avatar:
        settings = await self._permissions.require_manager(guild_id, actor, doing="Editing avatars")
        new_name = clean_name(name)
        new_personality = clean_personality(personality)
        new_script = clean_start_script(start_script)
        new_voice = self.voices.validate(voice) if voice else avatar.voice_preset
        changes = _changed_fields(avatar, new_name, new_personality, new_script, new_voice)
        if not changes.model_fields_set:
            return avatar
        if avatar.runway_id is None:
            raise InvalidInput("This avatar was never created at Runway; delete it and try again.")
        clash = await self._avatars.get_by_name(guild_id, new_name)
        if clash is not None and clash.id != avatar.id:
            raise InvalidInput(f"This server already has an avatar called {new_name}.")
        updated = await self._runway.update_avatar(avatar.runway_id, changes)
        await self.voices.remember(updated.voice)
        needs_review = settings.approval_required and "personality" in changes.model_fields_set
        try:
            stored = await self._avatars.update(
                guild_id,
                avatar.id,
                name=new_name,
                personality=new_personality,
                start_script=new_script,
                voice_preset=new_voice,
                review_state=ReviewState.PENDING if needs_review else UNSET,
                audit=AuditEvent(
                    actor.user_id,
                    "avatar.edit",
                    new_name,
                    {
                        "avatar_id": avatar.id,
                        "fields": list[JsonValue](sorted(changes.model_fields_set)),
                    },
                ),
            )
        except DuplicateNameError:
            raise InvalidInput(f"This server already has an avatar called {new_name}.") from None
        if stored is None:
            raise NotFound("That avatar was deleted while you were editing it.")
        return stored

    async def delete(self, guild_id: int, actor: Actor, avatar: Avatar) -> int:
        """Delete the avatar and its knowledge, at Runway first; returns documents removed.

        Documents Runway could not delete stay recorded as orphans, and the cleanup retries.
        """
        await self._permissions.require_manager(guild_id, actor, doing="Deleting avatars")
        documents = await self._documents.list_for_avatar(guild_id, avatar.id)
        if avatar.runway_id and self._runway.rules.supports(Operation.AVATAR_DELETE):
            with contextlib.suppress(RunwayNotFound):
                await self._runway.delete_avatar(avatar.runway_id)
        await self._avatars.delete(
            guild_id,
            avatar.id,
            audit=AuditEvent(
                actor.user_id,
                "avatar.delete",
                avatar.name,
                {"avatar_id": avatar.id, "documents": len(documents)},
            ),
        )
        removed = 0
        for document in documents:
            removed += await delete_everywhere(self._runway, self._documents, document)
        return removed

    async def review(self, guild_id: int, actor: Actor, avatar_id: int, *, approve: bool) -> Avatar:
        await self._permissions.require_manager(guild_id, actor, doing="Reviewing avatars")
        number = row_id(avatar_id)
        avatar = None if number is None else await self._avatars.get(guild_id, number)
        if avatar is None:
            raise NotFound("That avatar no longer exists.")
        if avatar.review_state is not ReviewState.PENDING:
            raise InvalidInput(f"{avatar.name} was already {avatar.review_state.value.lower()}.")
        state = ReviewState.APPROVED if approve else ReviewState.REJECTED
        updated = await self._avatars.update(
            guild_id,
            avatar_id,
            review_state=state,
            audit=AuditEvent(
                actor.user_id,
                "avatar.approve" if approve else "avatar.reject",
                avatar.name,
                {"avatar_id": avatar_id},
            ),
        )
        assert updated is not None, "read in this guild just now"
        return updated

    async def set_review_message(
        self, guild_id: int, avatar_id: int, message_id: int | None
    ) -> None:
        """Remember the avatar's review post; None when posting it failed, so that choosing
        a review channel again posts it (`unposted_reviews`)."""
        await self._avatars.update(guild_id, avatar_id, review_message_id=message_id)

    async def unposted_reviews(self, guild_id: int) -> list[Avatar]:
        """Avatars waiting for approval without a review post, which no admin could approve."""
        return await self._avatars.awaiting_review_post(guild_id)

    async def history(self, guild_id: int, actor: Actor, *, limit: int = 15) -> list[AuditEntry]:
        await self._permissions.require_manager(guild_id, actor, doing="Reading avatar history")
        return await self._audit.history(guild_id, limit=limit)

    async def _reference_image(
        self, image: ImageSource, progress: Progress
    ) -> tuple[str, str | None, bytes]:
        """What to send Runway as `referenceImage`, the URL to remember (if any), and the
        avatar's picture (a small square JPEG made from the same image).

        The image is checked (and packed, where Runway takes the bytes) in a worker process,
        a few at a time: a member whose image waits for others is told so.
        """
        if isinstance(image, ImageLink):
            data = await self._fetcher.fetch(image.url)
            url = image.url
        else:
            data, url = image.data, image.url
        limit = catalog.REFERENCE_DATA_URI_MAX if self._runway.rules.accepts_image_data else None

        async def waiting() -> None:
            await progress("Other images are being checked right now; yours is next…")

        prepared: PreparedImage = await self._images.run("image", data, limit, waiting=waiting)
        del data  # the bytes are the worker's business now
        if prepared.payload is not None:
            return (
                encode(prepared.mime, prepared.payload),
                url if isinstance(image, ImageLink) else None,
                prepared.picture,
            )
        if len(url) > catalog.REFERENCE_HTTPS_MAX:
            raise InvalidInput("That image link is too long for Runway; use a shorter one.")
        return url, url, prepared.picture

    async def _follow(self, guild_id: int, record: Avatar, progress: Progress) -> Avatar:
        assert record.runway_id is not None

        async def report(_: RunwayAvatar) -> None:
            await progress(PREPARING)

        try:
            final = await self._runway.wait_for_avatar(
                record.runway_id,
                max_wait=self._wait_seconds,
                interval=self._poll_interval,
                progress=report,
            )
        except RunwayTimeoutError:
            return record
        return await self._store_runway_state(guild_id, record.id, final)

    async def _store_runway_state(
        self, guild_id: int, avatar_id: int, remote: RunwayAvatar, *, first: bool = False
    ) -> Avatar:
        await self.voices.remember(remote.voice)
        stored = await self._avatars.update(
            guild_id,
            avatar_id,
            runway_id=remote.id if first else UNSET,
            status=AvatarStatus(remote.status.value),
            failure_reason=remote.failure_reason,
            processed_image_uri=remote.processed_image_uri,
            reference_image_uri=remote.reference_image_uri,
        )
        if stored is None:
            raise NotFound("That avatar was deleted meanwhile.")
        return stored

    async def _discard_failed(self, guild_id: int, actor: Actor, record: Avatar) -> None:
        """A FAILED avatar is removed everywhere, so its name is free for another try."""
        if record.runway_id and self._runway.rules.supports(Operation.AVATAR_DELETE):
            try:
                await self._runway.delete_avatar(record.runway_id)
            except RunwayError:
                log.info("could not delete failed avatar at Runway", exc_info=True)
        await self._avatars.delete(
            guild_id,
            record.id,
            audit=AuditEvent(
                actor.user_id,
                "avatar.create_failed",
                record.name,
                {"reason": record.failure_reason or "unknown"},
            ),
        )


def _changed_fields(
    avatar: Avatar, name: str, personality: str, start_script: str | None, voice: str
) -> AvatarChanges:
    values: dict[str, object] = {}
    if name != avatar.name:
        values["name"] = name
    if personality != avatar.personality:
        values["personality"] = personality
    if start_script != avatar.start_script:
        values["start_script"] = start_script
    if voice != avatar.voice_preset:
        values["voice_preset"] = voice
    return AvatarChanges.model_validate(values)
