"""Avatar video messages: an avatar of the server speaks a text or a recording, on video.

A request is checked in full before anything is spent: the Runway API must have videos (the
seed description has none), the member must be allowed (managers always; others with the
server's video role), the avatar usable, the text speakable or the recording a real one of
at most 5 minutes, and the server's video limits must hold. Then, in one transaction, it is
admitted (its estimate reserved) with the intent to call Runway, or, where the server
requires approval, it waits in the review channel with nothing reserved. Runway's task id is
recorded the moment it answers; from then on `VideoTracker` follows the task, posts the video
and settles it. Every request, with its text, goes to the server's audit log.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Final

from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.errors import RunwayError
from bot.runway.models import AudioSpeech, CustomAvatar, TaskStatus, TextSpeech, VideoSpec
from bot.services.actors import Actor, Permissions
from bot.services.audio import MAX_AUDIO_BYTES, CheckedAudio, data_uri
from bot.services.avatars import AvatarService
from bot.services.billable import (
    Adopted,
    BillableCalls,
    CannotTell,
    IntentKind,
    NotCreated,
    Progress,
    fingerprint,
)
from bot.services.processes import ProcessIdentity
from bot.services.video_quotas import VideoQuotas, raise_refusal
from bot.services.video_text import clean_script, speaking_seconds
from bot.services.video_tracker import VideoTracker, Watcher
from bot.services.voices import VoiceCatalog
from bot.storage import (
    AuditEvent,
    AuditRepository,
    Avatar,
    AvatarStatus,
    Clock,
    LimitReached,
    ReviewState,
    row_id,
    unix_now,
)
from bot.storage.intents import NewIntent
from bot.storage.videos import NewVideo, Video, VideoEnd, VideoRepository, VideoState
from bot.workers.pool import WorkerPool

log = logging.getLogger(__name__)

SEED_REFUSAL: Final = (
    "The Runway API this bot is set up for (the seed description) has no video endpoint, so "
    "avatars cannot speak in videos here. Runway's production API has them: an operator can "
    "switch with RUNWAY_API_DIALECT=production."
)
AUDIO_LEEWAY_SECONDS: Final = 1
"""Reserved beyond a recording's own length: the video may run a frame or two longer."""


@dataclass(frozen=True, slots=True)
class TextRequest:
    text: str
    voice: str | None = None


@dataclass(frozen=True, slots=True)
class AudioRequest:
    data: bytes


Speech = TextRequest | AudioRequest


@dataclass(frozen=True, slots=True)
class Requested:
    video: Video
    awaiting_approval: bool


class VideoService:
    def __init__(
        self,
        *,
        videos: VideoRepository,
        runway: RunwayClient,
        billable: BillableCalls,
        identity: ProcessIdentity,
        quotas: VideoQuotas,
        permissions: Permissions,
        audit: AuditRepository,
        voices: VoiceCatalog,
        avatars: AvatarService,
        media: WorkerPool,
        tracker: VideoTracker,
        clock: Clock = unix_now,
    ) -> None:
        self._avatars = avatars
        self._videos = videos
        self._runway = runway
        self._billable = billable
        self._identity = identity
        self._quotas = quotas
        self._permissions = permissions
        self._audit = audit
        self._voices = voices
        self._media = media
        self.tracker = tracker
        self._clock = clock

    # Before anything slow: every refusal that needs no download or form

    async def precheck(
        self, guild_id: int, actor: Actor, avatar: Avatar, *, text: str | None, voice: str | None
    ) -> str | None:
        """Refuse at once what can be refused from the options: videos missing from the
        Runway API, a member without the right, an avatar that cannot speak, a bad voice, a
        text that cannot be spoken, limits already reached. The voice preset to use."""
        if not self._runway.rules.supports(Operation.VIDEO_CREATE):
            raise InvalidInput(SEED_REFUSAL)
        await self._permissions.require_video_maker(guild_id, actor)
        require_speaking(avatar)
        preset = self._voices.validate(voice) if voice else None
        estimate = 1 if text is None else speaking_seconds(clean_script(text))
        await self._quotas.check(guild_id, actor, estimate)
        return preset

    # The request

    async def request(
        self,
        guild_id: int,
        channel_id: int,
        actor: Actor,
        avatar: Avatar,
        speech: Speech,
        *,
        upload_limit: int,
        progress: Progress,
        watcher: Watcher | None = None,
    ) -> Requested:
        """Record the request and, unless it waits for approval, send it to Runway; the
        video is then followed by the tracker (and `watcher`, the member's reply)."""
        settings = await self._permissions.require_video_maker(guild_id, actor)
        require_speaking(avatar)
        script = voice = None
        audio: CheckedAudio | None = None
        raw: bytes | None = None
        if isinstance(speech, TextRequest):
            script = clean_script(speech.text)
            voice = self._voices.validate(speech.voice) if speech.voice else None
            estimate = speaking_seconds(script)
        else:
            raw = speech.data
            audio = await self._check_audio(raw, progress)
            estimate = audio.whole_seconds + AUDIO_LEEWAY_SECONDS
        policy = await self._quotas.policy(guild_id)
        waits = settings.approval_required
        new = NewVideo(
            guild_id=guild_id,
            channel_id=channel_id,
            member_id=actor.user_id,
            avatar_label=avatar.name,
            estimate_seconds=estimate,
            upload_limit=upload_limit,
            text=speech_text(speech),
            voice_preset=voice,
            audio_seconds=None if audio is None else audio.whole_seconds,
            avatar_id=avatar.id,
        )
        try:
            video = await self._videos.request(
                new,
                policy,
                owner=self._identity.id,
                intent=None if waits else self._intent(new, avatar, raw),
                audio=(audio.mime, raw) if waits and audio and raw else None,
            )
        except LimitReached as limit:
            raise_refusal(policy, limit, estimate, self._clock())
            raise  # unreachable: raise_refusal always raises
        await self._audit.record(guild_id, _request_event(actor.user_id, video, waits))
        if waits:
            return Requested(video, awaiting_approval=True)
        if watcher is not None:
            self.tracker.watch(video.id, watcher)
        spec = _spec(avatar, script, voice, None if audio is None or raw is None else (audio, raw))
        started = await self._submit(video, spec, progress)
        return Requested(started, awaiting_approval=False)

    # Approval

    async def review(self, guild_id: int, actor: Actor, video_id: int, *, approve: bool) -> Video:
        """Approve (the request is admitted now and sent to Runway) or reject a waiting
        request. Approving may be refused by the limits: the request keeps waiting."""
        await self._permissions.require_manager(guild_id, actor, doing="Reviewing video requests")
        video = await self._waiting(guild_id, video_id)
        if not approve:
            rejected = await self._videos.release(
                video.id, VideoEnd.REJECTED, reviewer=actor.user_id
            )
            await self._videos.drop_audio(video.id)
            await self._audit.record(
                guild_id,
                AuditEvent(
                    actor.user_id, "video.reject", video.avatar_label, {"video_id": video.id}
                ),
            )
            if rejected is None:
                raise InvalidInput("That request was already decided.")
            return rejected
        avatar = await self._avatar_of(video)
        policy = await self._quotas.policy(guild_id)
        stored = await self._videos.audio(video.id)
        try:
            admitted = await self._videos.approve(
                guild_id,
                video.id,
                policy,
                reviewer=actor.user_id,
                owner=self._identity.id,
                intent=self._intent(_as_new(video), avatar, stored[1] if stored else None),
            )
        except LimitReached as limit:
            raise InvalidInput(
                "Not approved yet: "
                + policy.explain(limit, video.estimate_seconds, self._clock())
                + " The request keeps waiting."
            ) from None
        if admitted is None:
            raise InvalidInput("That request was already decided.")
        await self._audit.record(
            guild_id,
            AuditEvent(actor.user_id, "video.approve", video.avatar_label, {"video_id": video.id}),
        )
        audio = None
        if stored is not None:
            audio = (CheckedAudio(stored[0], float(video.audio_seconds or 1)), stored[1])
        spec = _spec(avatar, video.text and clean_script(video.text), video.voice_preset, audio)

        async def quietly(_: str) -> None:
            return None

        started = await self._submit(admitted, spec, quietly)
        await self._videos.drop_audio(video.id)
        return started

    # While it renders, and after

    async def cancel(self, guild_id: int, actor: Actor, video_id: int) -> Video:
        """Stop a video before it is posted: at Runway when it is rendering there."""
        video = await self._own(guild_id, actor, video_id)
        if video.state is VideoState.AWAITING_APPROVAL:
            cancelled = await self._videos.release(video.id, VideoEnd.CANCELLED)
            await self._videos.drop_audio(video.id)
        elif video.state is VideoState.RESERVED:
            raise InvalidInput("It is being handed to Runway right now; cancel it in a moment.")
        elif video.state is VideoState.RENDERING:
            assert video.runway_id is not None
            await self.tracker.cancel_remote(video.runway_id)
            try:
                task = await self._runway.get_task(video.runway_id)
            except RunwayNotFound:
                task = None  # Runway may forget a cancelled task at once
            if task is not None and task.status is TaskStatus.SUCCEEDED:
                raise InvalidInput("Runway had already finished it; it is being posted.")
            cancelled = await self.tracker.end(video, VideoEnd.CANCELLED)
        else:
            raise InvalidInput("It is already finished, so there is nothing to cancel.")
        if cancelled is None:
            raise InvalidInput("It ended meanwhile, so there is nothing to cancel.")
        await self._audit.record(
            guild_id,
            AuditEvent(actor.user_id, "video.cancel", video.avatar_label, {"video_id": video.id}),
        )
        return cancelled

    async def fresh_link(self, guild_id: int, video_id: int) -> str:
        """A new download link to a posted video (Runway's links expire within a day or two)."""
        number = row_id(video_id)
        video = None if number is None else await self._videos.get(guild_id, number)
        if video is None or video.runway_id is None:
            raise NotFound("That video no longer exists.")
        try:
            task = await self._runway.get_task(video.runway_id)
        except RunwayNotFound:
            raise NotFound("Runway no longer keeps this video.") from None
        if task.status is not TaskStatus.SUCCEEDED or not task.output:
            raise NotFound("Runway no longer keeps this video.")
        return task.output[0]

    async def get(self, guild_id: int, video_id: int) -> Video:
        number = row_id(video_id)
        video = None if number is None else await self._videos.get(guild_id, number)
        if video is None:
            raise NotFound("That video request no longer exists.")
        return video

    async def set_review_message(self, video_id: int, message_id: int | None) -> None:
        await self._videos.set_review_message(video_id, message_id)

    # Plumbing

    async def _submit(self, video: Video, spec: VideoSpec, progress: Progress) -> Video:
        intent_id = await self._billable.intents.for_record(IntentKind.VIDEO, video.id)
        try:
            answer = await self._billable.call(
                intent_id,
                lambda: self._runway.create_avatar_video(spec),
                what=f"the video of {video.avatar_label}",
                progress=progress,
            )
        except (RunwayError, NotCreated, CannotTell) as error:
            message = getattr(error, "user_message", None)
            await self.tracker.end(video, VideoEnd.START_FAILED, failure=message)
            raise
        task_id = answer.runway_id if isinstance(answer, Adopted) else answer
        rendering = await self._videos.mark_rendering(video.id, task_id)
        await self._billable.adopted(intent_id, task_id)
        if rendering is None:  # released meanwhile (a dead-process sweep): stop it at Runway
            await self.tracker.cancel_remote(task_id)
            raise InvalidInput("The request was stopped while it was being sent; ask again.")
        self.tracker.wake()
        return rendering

    def _intent(self, new: NewVideo, avatar: Avatar, audio: bytes | None) -> NewIntent:
        said = new.text if audio is None else hashlib.sha256(audio).hexdigest()
        return NewIntent(
            kind=IntentKind.VIDEO,
            guild_id=new.guild_id,
            member_id=new.member_id,
            name=avatar.name,
            fingerprint=fingerprint(IntentKind.VIDEO, avatar.runway_id, said),
            target=avatar.runway_id,
            decide_after=self._clock() + int(self._runway.create_read_seconds),
        )

    async def _check_audio(self, data: bytes, progress: Progress) -> CheckedAudio:
        if len(data) > MAX_AUDIO_BYTES:
            raise InvalidInput(too_big_audio(len(data)))
        await progress("Checking the recording…")

        async def waiting() -> None:
            await progress("Other files are being checked right now; yours is next…")

        checked: CheckedAudio = await self._media.run("audio", data, waiting=waiting)
        return checked

    async def _waiting(self, guild_id: int, video_id: int) -> Video:
        video = await self.get(guild_id, video_id)
        if video.state is not VideoState.AWAITING_APPROVAL:
            raise InvalidInput("That request was already decided.")
        return video

    async def _own(self, guild_id: int, actor: Actor, video_id: int) -> Video:
        video = await self.get(guild_id, video_id)
        if video.member_id != actor.user_id:
            try:
                await self._permissions.require_manager(
                    guild_id, actor, doing="Cancelling someone else's video"
                )
            except NotAllowed:
                raise NotAllowed(
                    "Only who asked for this video (or a manager) can cancel it."
                ) from None
        return video

    async def _avatar_of(self, video: Video) -> Avatar:
        """The avatar a waiting request is for, if it can still speak."""
        if video.avatar_id is None:
            raise NotFound(f"{video.avatar_label} was deleted, so this request cannot be made.")
        try:
            avatar = await self._avatars.resolve(video.guild_id, str(video.avatar_id))
        except NotFound:
            raise NotFound(
                f"{video.avatar_label} was deleted, so this request cannot be made."
            ) from None
        require_speaking(avatar)
        return avatar


def require_speaking(avatar: Avatar) -> None:
    """Only a ready, approved avatar speaks for the server."""
    name = avatar.name
    if avatar.status is AvatarStatus.PROCESSING or avatar.runway_id is None:
        raise InvalidInput(f"{name} cannot speak in videos yet: Runway is still preparing it.")
    if avatar.status is AvatarStatus.FAILED:
        raise InvalidInput(f"{name} cannot speak in videos: Runway could not make it.")
    if avatar.review_state is ReviewState.PENDING:
        raise InvalidInput(f"{name} cannot speak in videos yet: it waits for an admin's approval.")
    if avatar.review_state is ReviewState.REJECTED:
        raise InvalidInput(f"{name} cannot speak in videos: an admin rejected it.")


def too_big_audio(size: int) -> str:
    return (
        f"The audio file is {size / 1_000_000:.1f} MB; avatar videos take recordings of at most "
        f"{MAX_AUDIO_BYTES // 1_000_000} MB (and 5 minutes)."
    )


def speech_text(speech: Speech) -> str | None:
    return speech.text.strip() if isinstance(speech, TextRequest) else None


def _spec(
    avatar: Avatar,
    script: str | None,
    voice: str | None,
    audio: tuple[CheckedAudio, bytes] | None,
) -> VideoSpec:
    assert avatar.runway_id is not None
    shown = CustomAvatar(avatar_id=avatar.runway_id)
    if audio is not None:
        return VideoSpec(avatar=shown, speech=AudioSpeech(audio=data_uri(audio[0].mime, audio[1])))
    assert script is not None
    return VideoSpec(avatar=shown, speech=TextSpeech(text=script, voice_preset=voice))


def _as_new(video: Video) -> NewVideo:
    return NewVideo(
        guild_id=video.guild_id,
        channel_id=video.channel_id,
        member_id=video.member_id,
        avatar_label=video.avatar_label,
        estimate_seconds=video.estimate_seconds,
        upload_limit=video.upload_limit,
        text=video.text,
        avatar_id=video.avatar_id,
    )


def _request_event(member_id: int, video: Video, waits: bool) -> AuditEvent:
    return AuditEvent(
        member_id,
        "video.request",
        video.avatar_label,
        {
            "video_id": video.id,
            "channel_id": video.channel_id,
            "text": video.text,
            "audio_seconds": video.audio_seconds,
            "voice": video.voice_preset,
            "awaiting_approval": waits,
        },
    )
