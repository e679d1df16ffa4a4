"""Typed views of Runway's answers and of what the bot asks for.

The models are dialect-neutral: the production API's richer shapes are the norm and the
seed description's answers are filled in from it (see `dialects.py`), so services never
branch on which API is behind the client.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored so a
    new field at Runway never breaks the bot. Validators are built on first use
    (`defer_build`), so a model the process never needs costs no memory."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        defer_build=True,
    )


class AvatarStatus(StrEnum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class Voice(_Model):
    type: Literal["runway-live-preset", "custom"] = "runway-live-preset"
    preset_id: str | None = None
    id: str | None = None
    name: str | None = None
    description: str | None = None


class Avatar(_Model):
    id: str
    name: str
    status: AvatarStatus
    created_at: datetime
    personality: str | None = None
    start_script: str | None = None
    voice: Voice | None = None
    reference_image_uri: str | None = None
    processed_image_uri: str | None = None
    document_ids: tuple[str, ...] = ()
    updated_at: datetime | None = None
    failure_reason: str | None = None


class DocumentUser(_Model):
    id: str
    name: str
    image_url: str | None = None


class Document(_Model):
    id: str
    name: str
    created_at: datetime
    type: str | None = None
    content: str | None = None
    used_by: tuple[DocumentUser, ...] = ()
    updated_at: datetime | None = None


class Page(_Model, Generic[T]):
    data: tuple[T, ...]
    has_more: bool = False
    next_cursor: str | None = None


class SessionStatus(StrEnum):
    NOT_READY = "NOT_READY"
    READY = "READY"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_SESSION_STATES


_FINAL_SESSION_STATES = frozenset(
    {SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED}
)


class RealtimeSession(_Model):
    id: str
    status: SessionStatus
    created_at: datetime | None = None
    queued: bool | None = None
    session_key: str | None = None
    expires_at: datetime | None = None
    duration: int | None = None
    failure: str | None = None
    failure_code: str | None = None


class SessionCredentials(_Model):
    """What a browser needs to join the LiveKit room; handed out once."""

    url: str
    token: str
    room_name: str


class CreatedSession(_Model):
    """The answer to a session create: production gives only the id; the seed
    description hands over the credentials at once."""

    id: str
    credentials: SessionCredentials | None = None


class ConversationAvatar(_Model):
    """The avatar a conversation showed: `custom` with its id (None once deleted), or a
    Runway preset with its `preset_id`."""

    type: str
    id: str | None = None
    preset_id: str | None = None
    name: str | None = None


class Conversation(_Model):
    """One realtime session as `GET /v1/avatar_conversations` lists it (same id)."""

    id: str
    status: str
    created_at: datetime
    avatar: ConversationAvatar | None = None
    duration: int | None = None


class UsageDay(_Model):
    date: date
    sessions: int
    seconds: int


class Usage(_Model):
    total_seconds: int
    total_sessions: int
    avg_duration_seconds: int
    by_day: tuple[UsageDay, ...] = ()


class PresetAvatar(_Model):
    """One of Runway's ready-made avatars (see catalog.AVATAR_PRESETS)."""

    preset_id: str


class CustomAvatar(_Model):
    avatar_id: str


class AvatarSpec(_Model):
    """Everything needed to create an avatar."""

    name: str
    reference_image: str
    personality: str
    voice_preset: str
    start_script: str | None = None
    document_ids: tuple[str, ...] = ()


class AvatarChanges(_Model):
    """A partial update: only fields that were set are sent (production PATCH).
    `start_script=None` set explicitly clears the opening line."""

    name: str | None = None
    reference_image: str | None = None
    personality: str | None = None
    start_script: str | None = None
    voice_preset: str | None = None
    document_ids: tuple[str, ...] | None = None


class SessionSpec(_Model):
    avatar: PresetAvatar | CustomAvatar
    max_seconds: int = Field(gt=0)
    personality: str | None = None
    start_script: str | None = None


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    THROTTLED = "THROTTLED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class Credits(_Model):
    credits: float


class Task(_Model):
    """A generation task (`GET /v1/tasks/{id}`): an avatar video being rendered.

    `output` holds links that expire within a day or two; asking for the task again gives
    fresh ones. `cost` is the final charge of a finished task (0 when refunded)."""

    id: str
    status: TaskStatus
    created_at: datetime | None = None
    progress: float | None = None
    estimated_cost: Credits | None = None
    cost: Credits | None = None
    output: tuple[str, ...] = ()
    failure: str | None = None
    failure_code: str | None = None


class CreatedTask(_Model):
    id: str


class TextSpeech(_Model):
    """A script Runway speaks with the avatar's voice, or with a preset voice given here."""

    text: str
    voice_preset: str | None = None


class AudioSpeech(_Model):
    """Recorded speech the avatar lip-syncs to, carried inline as a `data:audio/...` URI."""

    audio: str


class VideoSpec(_Model):
    avatar: PresetAvatar | CustomAvatar
    speech: TextSpeech | AudioSpeech
