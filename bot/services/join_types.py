"""What a join link can show and hand out; shared by the session service and the web page.

They live with the services (not the web server) because the session service produces them
and layers only depend downwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JoinState(StrEnum):
    OK = "ok"
    USED = "used"
    EXPIRED = "expired"
    ENDED = "ended"
    FAILED = "failed"
    """Runway could not get the call ready when the person pressed Join; it costs nothing."""
    UNKNOWN = "unknown"
    IN_USE = "in_use"
    """The link was used and its call is still live: the browser that used it may rejoin."""
    WARMING = "warming"
    """That browser asks again while its first request still waits on Runway."""


@dataclass(frozen=True, slots=True)
class JoinView:
    """What the page shows before anyone presses Join; reading it consumes nothing."""

    avatar_name: str
    max_seconds: int
    expires_at: int
    has_picture: bool = False
    """The avatar is one of the server's own (a preset has no picture the bot can show)."""
    transcript: str = "Not kept by this bot"
    """Whether the call is transcribed, and who sees it (the server's choice)."""
    recording: str = "Not kept by this bot"
    kept: str = "Nothing is kept"
    """How long Runway keeps what it transcribed and recorded."""


@dataclass(frozen=True, slots=True)
class JoinPicture:
    """The avatar's picture, served beside its name while the link is still unused."""

    data: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class JoinCredentials:
    """What the POST hands out, once: enough for livekit-client to join the room."""

    url: str
    token: str
    room_name: str
    ends_at: int
    max_seconds: int
    avatar_name: str
