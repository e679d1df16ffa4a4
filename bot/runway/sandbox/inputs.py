"""Validated requests, the same shapes whichever dialect they arrived in.

The parsers translate each dialect's field names (`startScript` or `openingMessage`,
`runway-preset` or `preset`) into these, so the emulated account has one set of rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Literal


class Unset(Enum):
    """Marks a PATCH field that was left out, as opposed to one set to null."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True, slots=True)
class Voice:
    """A preset voice (`id` is its preset name) or a custom voice (`id` is its uuid)."""

    custom: bool
    id: str


@dataclass(frozen=True, slots=True)
class AvatarInput:
    name: str
    reference_image: str
    personality: str
    start_script: str | None
    voice: Voice
    document_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AvatarPatch:
    """Only the fields given change; `start_script=None` clears the opening line."""

    name: str | None = None
    reference_image: str | None = None
    personality: str | None = None
    start_script: str | Unset | None = UNSET
    voice: Voice | None = None
    document_ids: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class DocumentInput:
    name: str
    content: str


@dataclass(frozen=True, slots=True)
class DocumentPatch:
    name: str | None
    content: str | None


@dataclass(frozen=True, slots=True)
class AvatarRef:
    """The avatar a session shows: a Runway preset, or one of the account's own avatars."""

    custom: bool
    id: str


@dataclass(frozen=True, slots=True)
class SessionInput:
    avatar: AvatarRef
    max_seconds: int


@dataclass(frozen=True, slots=True)
class VideoInput:
    """An avatar video to render: from a script (with an optional preset voice) or from
    recorded audio (its bytes, from a data: URI; None when given as a link)."""

    avatar: AvatarRef
    text: str | None
    voice: str | None
    audio: bytes | None


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One page of a list: how many, where to resume, and in which order."""

    limit: int
    cursor: str | None
    sort: Literal["createdAt", "updatedAt"] = "createdAt"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    """A page of conversations, optionally of one avatar and created in [start, end)."""

    page: PageQuery
    avatar: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class UsageQuery:
    start: datetime
    end: datetime
