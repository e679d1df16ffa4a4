"""What the emulated account stores, and the states derived from it lazily.

Nothing here changes on its own: an avatar's or a session's status is computed from its
timestamps and the current time whenever it is asked for, which makes the emulator free of
background tasks and lets a test advance the clock instead of waiting.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import unquote_to_bytes

from bot.runway.sandbox.inputs import AvatarRef, Voice

FAIL_MARKER_TEXT: Final = "sandbox-fail"
FAIL_MARKER_BYTES: Final = b"SANDBOX-FAIL"
AVATAR_FAILURE_REASON: Final = (
    "The reference image could not be processed: no usable face was found."
)
PREVIEW_BASE: Final = "https://sandbox.runway.invalid/previews"


class AvatarStatus(StrEnum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class SessionStatus(StrEnum):
    NOT_READY = "NOT_READY"
    READY = "READY"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


LIVE_STATUSES: Final = frozenset(
    {SessionStatus.NOT_READY, SessionStatus.READY, SessionStatus.RUNNING}
)


def image_fails(reference_image: str) -> bool:
    """Whether this is the recognisable test image that makes processing fail.

    An https or runway:// address containing `sandbox-fail`, or a data: URI whose decoded
    bytes contain `SANDBOX-FAIL`, so a test can make a failing image without hosting one.
    """
    if not reference_image.startswith("data:"):
        return FAIL_MARKER_TEXT in reference_image.lower()
    header, _, payload = reference_image.partition(",")
    try:
        if header.endswith(";base64"):
            data = base64.b64decode(payload)
        else:
            data = unquote_to_bytes(payload)
    except binascii.Error:
        return False
    return FAIL_MARKER_BYTES in data


@dataclass(slots=True)
class AvatarRecord:
    id: str
    name: str
    personality: str
    start_script: str | None
    voice: Voice
    reference_image: str
    document_ids: list[str]
    created_at: datetime
    updated_at: datetime
    processed_at: datetime
    """When processing of the current reference image finishes."""
    fails: bool

    def status(self, now: datetime) -> AvatarStatus:
        if now < self.processed_at:
            return AvatarStatus.PROCESSING
        return AvatarStatus.FAILED if self.fails else AvatarStatus.READY

    def reference_preview(self) -> str:
        """A preview address; an https image is its own preview, anything else gets a stand-in."""
        if self.reference_image.startswith("https://"):
            return self.reference_image
        return f"{PREVIEW_BASE}/{self.id}/reference.jpg"

    def processed_preview(self, now: datetime) -> str | None:
        if self.status(now) is not AvatarStatus.READY:
            return None
        return f"{PREVIEW_BASE}/{self.id}/processed.jpg"


@dataclass(slots=True)
class DocumentRecord:
    id: str
    name: str
    content: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SessionFailure:
    failure: str
    code: str


SESSION_EXPIRED: Final = SessionFailure(
    "The session was not joined before its credentials expired.", "SESSION_EXPIRED"
)
SERVER_FAILURE: Final = SessionFailure(
    "The session ended because of an error on Runway's side.", "INTERNAL_ERROR"
)
"""What `Sandbox.fail_session` reports unless told otherwise."""


@dataclass(frozen=True, slots=True)
class SessionState:
    status: SessionStatus
    duration: int | None = None
    failure: SessionFailure | None = None
    ended_at: datetime | None = None
    """When a finished session ended (None while it is live)."""


@dataclass(slots=True)
class SessionRecord:
    """A realtime session: NOT_READY until `ready_at`, READY until `expires_at` unless
    consumed, then RUNNING until the member hangs up or the length limit is reached."""

    id: str
    created_at: datetime
    ready_at: datetime
    expires_at: datetime
    limit_seconds: int
    """The requested maximum, already capped at the length Runway enforces."""
    session_key: str
    consumed_at: datetime | None = None
    call_seconds: float | None = None
    """Set when the member hangs up: how long the call lasted."""
    failure: SessionFailure | None = None
    cancelled: bool = False
    avatar: AvatarRef | None = None
    """What the session shows (None where the dialect's request named no avatar)."""
    finished_at: datetime | None = None
    """When it was cancelled or failed (a completed call ends when its length is up)."""
    script: tuple[tuple[str, str], ...] | None = None
    """The transcript a test wrote for this call (role, content); None: the default one."""
    conversation_deleted: bool = False
    """Its conversation (transcript and recording) was deleted; the session itself stays."""

    def state(self, now: datetime) -> SessionState:
        if self.cancelled:
            return SessionState(SessionStatus.CANCELLED, ended_at=self.finished_at)
        if self.failure is not None:
            return SessionState(
                SessionStatus.FAILED, failure=self.failure, ended_at=self.finished_at
            )
        if self.consumed_at is None:
            if now < self.ready_at:
                return SessionState(SessionStatus.NOT_READY)
            if now < self.expires_at:
                return SessionState(SessionStatus.READY)
            return SessionState(
                SessionStatus.FAILED, failure=SESSION_EXPIRED, ended_at=self.expires_at
            )
        if self.call_seconds is None and now < self.consumed_at + timedelta(
            seconds=self.limit_seconds
        ):
            return SessionState(SessionStatus.RUNNING)
        seconds: float = self.limit_seconds
        if self.call_seconds is not None:
            seconds = min(self.call_seconds, seconds)
        return SessionState(
            SessionStatus.COMPLETED,
            duration=round(seconds),
            ended_at=self.consumed_at + timedelta(seconds=seconds),
        )
