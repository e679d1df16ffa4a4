"""The differences between Runway's production API and the seed description, as data.

The client asks its `DialectRules` for field names, value ranges and whether an
operation exists; it never branches on the dialect's name. Adding a third dialect means
adding one more instance here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from bot.runway import catalog
from bot.runway.models import (
    Avatar,
    AvatarSpec,
    AvatarStatus,
    CreatedSession,
    CustomAvatar,
    Document,
    PresetAvatar,
    SessionCredentials,
    SessionSpec,
    TextSpeech,
    VideoSpec,
    Voice,
)
from bot.settings import Dialect


class Operation(Enum):
    """Each operation's value says what it does, for "not supported" messages."""

    AVATAR_CREATE = "creating avatars"
    AVATAR_GET = "reading an avatar back from Runway"
    AVATAR_LIST = "listing Runway's avatars"
    AVATAR_UPDATE = "editing an avatar"
    AVATAR_DELETE = "deleting an avatar at Runway"
    DOCUMENT_CREATE = "uploading knowledge documents"
    DOCUMENT_GET = "reading a knowledge document back"
    DOCUMENT_LIST = "listing knowledge documents"
    DOCUMENT_UPDATE = "editing a knowledge document"
    DOCUMENT_DELETE = "deleting a knowledge document"
    SESSION_CREATE = "starting sessions"
    SESSION_GET = "following a session's state"
    SESSION_CANCEL = "ending a session early"
    SESSION_CONSUME = "fetching a session's join credentials"
    USAGE = "reading Runway's usage figures"
    CONVERSATION_LIST = "listing Runway's sessions"
    VIDEO_CREATE = "making avatar videos"
    TASK_GET = "following a video's rendering"
    TASK_CANCEL = "cancelling a video"


_SEED_OPERATIONS = frozenset(
    {
        Operation.AVATAR_CREATE,
        Operation.DOCUMENT_CREATE,
        Operation.DOCUMENT_DELETE,
        Operation.SESSION_CREATE,
    }
)


@dataclass(frozen=True, slots=True)
class DialectRules:
    dialect: Dialect
    operations: frozenset[Operation]
    start_script_field: str
    preset_avatar_type: str
    duration_field: str
    min_session_seconds: int
    max_session_seconds: int
    avatar_voice_presets: tuple[str, ...] | None
    """Voice preset ids the API accepts, or None where any id is passed through."""
    accepts_image_data: bool
    """Whether `referenceImage` may carry the image itself (a data: URI), not just a link."""

    def supports(self, operation: Operation) -> bool:
        return operation in self.operations

    def avatar_body(self, spec: AvatarSpec) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": spec.name,
            "referenceImage": spec.reference_image,
            "personality": spec.personality,
            "voice": {"type": "runway-live-preset", "presetId": spec.voice_preset},
        }
        if spec.start_script:
            body[self.start_script_field] = spec.start_script
        if spec.document_ids:
            body["documentIds"] = list(spec.document_ids)
        return body

    def session_body(self, spec: SessionSpec) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": catalog.SESSION_MODEL,
            "avatar": self._avatar(spec.avatar),
            self.duration_field: self.clamp_session_seconds(spec.max_seconds),
        }
        if spec.personality:
            body["personality"] = spec.personality
        if spec.start_script:
            body["startScript"] = spec.start_script
        return body

    def video_body(self, spec: VideoSpec) -> dict[str, Any]:
        speech: dict[str, Any]
        if isinstance(spec.speech, TextSpeech):
            speech = {"type": "text", "text": spec.speech.text}
            if spec.speech.voice_preset:
                speech["voice"] = {"type": "preset", "presetId": spec.speech.voice_preset}
        else:
            speech = {"type": "audio", "audio": spec.speech.audio}
        return {
            "model": catalog.SESSION_MODEL,
            "avatar": self._avatar(spec.avatar),
            "speech": speech,
        }

    def _avatar(self, avatar: PresetAvatar | CustomAvatar) -> dict[str, str]:
        if isinstance(avatar, CustomAvatar):
            return {"type": "custom", "avatarId": avatar.avatar_id}
        return {"type": self.preset_avatar_type, "presetId": avatar.preset_id}

    def clamp_session_seconds(self, seconds: int) -> int:
        return max(self.min_session_seconds, min(self.max_session_seconds, seconds))

    def parse_created_avatar(self, data: Any, spec: AvatarSpec) -> Avatar:
        """Production answers with the full avatar; the seed with `{id, name, createdAt}`,
        which is completed from what was asked (it has no processing step)."""
        if self.supports(Operation.AVATAR_GET):
            return Avatar.model_validate(data)
        return Avatar(
            id=data["id"],
            name=data.get("name", spec.name),
            created_at=data.get("createdAt") or datetime.now(UTC),
            status=AvatarStatus.READY,
            personality=spec.personality,
            start_script=spec.start_script,
            voice=Voice(preset_id=spec.voice_preset),
            reference_image_uri=spec.reference_image,
            document_ids=spec.document_ids,
        )

    def parse_created_document(self, data: Any) -> Document:
        return Document.model_validate(data)

    def parse_created_session(self, data: Any) -> CreatedSession:
        """The seed hands over the room credentials with the session itself."""
        if self.supports(Operation.SESSION_CONSUME):
            return CreatedSession(id=data["id"])
        return CreatedSession(
            id=data["id"],
            credentials=SessionCredentials(
                url=data["serverUrl"], token=data["token"], room_name=data["roomName"]
            ),
        )


PRODUCTION = DialectRules(
    dialect=Dialect.PRODUCTION,
    operations=frozenset(Operation),
    start_script_field="startScript",
    preset_avatar_type="runway-preset",
    duration_field="maxDuration",
    min_session_seconds=catalog.PRODUCTION_MAX_DURATION_MIN,
    max_session_seconds=catalog.PRODUCTION_MAX_DURATION_MAX,
    avatar_voice_presets=catalog.VOICE_PRESETS,
    accepts_image_data=True,
)

SEED = DialectRules(
    dialect=Dialect.SEED,
    operations=_SEED_OPERATIONS,
    start_script_field="openingMessage",
    preset_avatar_type="preset",
    duration_field="maxSessionDurationSeconds",
    min_session_seconds=1,
    max_session_seconds=catalog.SEED_MAX_SESSION_SECONDS,
    avatar_voice_presets=None,
    accepts_image_data=False,
)

RULES: dict[Dialect, DialectRules] = {Dialect.PRODUCTION: PRODUCTION, Dialect.SEED: SEED}
