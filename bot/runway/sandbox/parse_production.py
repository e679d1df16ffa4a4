"""Production dialect: requests checked against the limits in Runway's own OpenAPI file."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final, Literal

from bot.runway import catalog
from bot.runway.sandbox.checks import UUID_V4, Checker, ObjectView
from bot.runway.sandbox.errors import Issue, SandboxError
from bot.runway.sandbox.inputs import (
    UNSET,
    AvatarInput,
    AvatarPatch,
    AvatarRef,
    ConversationQuery,
    DocumentInput,
    DocumentPatch,
    PageQuery,
    SessionInput,
    Unset,
    UsageQuery,
    VideoInput,
    Voice,
)

IMAGE_PROCESSING: Final = ("optimize", "none")
SESSION_TOOLS_MAX: Final = 20
LIST_LIMIT_DEFAULT: Final = 50

_REFERENCE_KINDS: Final = (
    ("https://", catalog.REFERENCE_HTTPS_MAX),
    ("runway://", catalog.REFERENCE_RUNWAY_URI_MAX),
    ("data:image/", catalog.REFERENCE_DATA_URI_MAX),
)
_DATE_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z", re.ASCII)


def avatar_create(body: object) -> AvatarInput:
    check = Checker()
    root = check.root(body)
    name = root.text("name", min_len=1, max_len=catalog.AVATAR_NAME_MAX)
    reference_image = _reference_image(root)
    root.require("referenceImage")
    personality = root.text("personality", min_len=1, max_len=catalog.PERSONALITY_MAX)
    start_script = root.optional_text("startScript", max_len=catalog.START_SCRIPT_MAX)
    voice = _voice(root)
    document_ids = root.uuid_list("documentIds", max_items=catalog.DOCUMENT_IDS_MAX)
    root.optional_choice("imageProcessing", IMAGE_PROCESSING)
    check.raise_if_any()
    return AvatarInput(
        name=name,
        reference_image=reference_image or "",
        personality=personality,
        start_script=start_script,
        voice=voice or Voice(custom=False, id=""),
        document_ids=document_ids or (),
    )


def avatar_patch(body: object) -> AvatarPatch:
    check = Checker()
    root = check.root(body)
    start_script: str | Unset | None = UNSET
    if root.is_null("startScript"):
        start_script = None
    elif root.has("startScript"):
        start_script = root.optional_text("startScript", max_len=catalog.START_SCRIPT_MAX)
    patch = AvatarPatch(
        name=root.optional_text("name", min_len=1, max_len=catalog.AVATAR_NAME_MAX),
        reference_image=_reference_image(root),
        personality=root.optional_text("personality", min_len=1, max_len=catalog.PERSONALITY_MAX),
        start_script=start_script,
        voice=_voice(root) if root.has("voice") else None,
        document_ids=root.uuid_list("documentIds", max_items=catalog.DOCUMENT_IDS_MAX),
    )
    root.optional_choice("imageProcessing", IMAGE_PROCESSING)
    check.raise_if_any()
    return patch


def document_create(body: object) -> DocumentInput:
    check = Checker()
    root = check.root(body)
    document = DocumentInput(
        name=root.text("name", min_len=1, max_len=catalog.DOCUMENT_NAME_MAX),
        content=root.text("content", min_len=1, max_len=catalog.DOCUMENT_CONTENT_MAX),
    )
    check.raise_if_any()
    return document


def document_patch(body: object) -> DocumentPatch:
    check = Checker()
    root = check.root(body)
    patch = DocumentPatch(
        name=root.optional_text("name", min_len=1, max_len=catalog.DOCUMENT_NAME_MAX),
        content=root.optional_text("content", min_len=1, max_len=catalog.DOCUMENT_CONTENT_MAX),
    )
    check.raise_if_any()
    return patch


def session_create(body: object) -> SessionInput:
    check = Checker()
    root = check.root(body)
    root.choice("model", (catalog.SESSION_MODEL,))
    avatar = session_avatar(root, preset_type="runway-preset")
    max_seconds = root.integer(
        "maxDuration",
        minimum=catalog.PRODUCTION_MAX_DURATION_MIN,
        maximum=catalog.PRODUCTION_MAX_DURATION_MAX,
        default=catalog.PRODUCTION_MAX_DURATION_DEFAULT,
    )
    root.optional_text("personality", min_len=1, max_len=catalog.PERSONALITY_MAX)
    root.optional_text("startScript", min_len=1, max_len=catalog.START_SCRIPT_MAX)
    root.array("tools", max_items=SESSION_TOOLS_MAX)
    check.raise_if_any()
    return SessionInput(avatar=avatar, max_seconds=max_seconds)


_AUDIO_KINDS: Final = (
    ("https://", catalog.AUDIO_HTTPS_MAX),
    ("runway://", catalog.AUDIO_RUNWAY_URI_MAX),
    ("data:audio/", catalog.AUDIO_DATA_URI_MAX),
)


def video_create(body: object) -> VideoInput:
    """`POST /v1/avatar_videos`: a model, an avatar and speech (text or audio); nothing else."""
    check = Checker()
    root = check.root(body)
    root.choice("model", (catalog.SESSION_MODEL,))
    avatar = session_avatar(root, preset_type="runway-preset")
    root.only("model", "avatar", "speech")
    text = voice = None
    audio: bytes | None = None
    speech = root.child("speech")
    if speech is not None:
        kind = speech.choice("type", ("text", "audio"))
        if kind == "text":
            text = speech.text("text", min_len=1, max_len=catalog.VIDEO_TEXT_MAX)
            if speech.has("voice"):
                voice = _speech_voice(speech)
        elif kind == "audio":
            audio = _audio(speech)
    check.raise_if_any()
    return VideoInput(avatar=avatar, text=text, voice=voice, audio=audio)


def _speech_voice(speech: ObjectView) -> str | None:
    voice = speech.child("voice")
    if voice is None:
        return None
    kind = voice.choice("type", ("preset", "custom"))
    if kind == "custom":
        return voice.uuid("id")
    return voice.choice("presetId", catalog.VOICE_PRESETS)


def _audio(speech: ObjectView) -> bytes | None:
    """The audio's bytes when it came as a base64 data: URI (links are not fetched)."""
    value = speech.text("audio")
    for prefix, longest in _AUDIO_KINDS:
        if value.startswith(prefix):
            if not catalog.AUDIO_MIN <= len(value) <= longest:
                speech.problem(
                    "audio",
                    "too_big" if len(value) > longest else "too_small",
                    f"String must contain between {catalog.AUDIO_MIN} and {longest} character(s)",
                )
            if prefix != "data:audio/":
                return None
            header, _, payload = value.partition(",")
            try:
                if not header.endswith(";base64"):
                    raise ValueError(header)
                return base64.b64decode(payload, validate=True)
            except (ValueError, binascii.Error):
                speech.problem("audio", "invalid_string", "Invalid base64 data URI")
                return None
    speech.problem(
        "audio",
        "invalid_union",
        "Expected an https:// URL, a runway:// upload URI or a data:audio/ URI",
    )
    return None


def session_avatar(root: ObjectView, *, preset_type: str) -> AvatarRef:
    """The session's avatar; the dialects differ only in what they call a preset."""
    avatar = root.child("avatar")
    if avatar is None:
        return AvatarRef(custom=False, id="")
    kind = avatar.choice("type", (preset_type, "custom"))
    if kind == "custom":
        return AvatarRef(custom=True, id=avatar.uuid("avatarId"))
    return AvatarRef(custom=False, id=avatar.choice("presetId", catalog.AVATAR_PRESETS))


def resource_id(value: str) -> str:
    """A path id must be a uuid; anything else is a bad request, not a missing resource."""
    if not UUID_V4.fullmatch(value):
        raise SandboxError(
            400, "Invalid request.", [Issue("invalid_string", ("id",), "Invalid uuid")]
        )
    return value


def page_query(query: Mapping[str, str]) -> PageQuery:
    check = Checker()
    page = PageQuery(limit=_limit(check, query), cursor=_cursor(check, query))
    check.raise_if_any()
    return page


def document_page_query(query: Mapping[str, str]) -> PageQuery:
    check = Checker()
    limit, cursor = _limit(check, query), _cursor(check, query)
    raw_sort = query.get("sort", "createdAt")
    if raw_sort not in ("createdAt", "updatedAt"):
        check.problem(("sort",), "invalid_enum_value", "Expected 'createdAt' | 'updatedAt'")
    sort: Literal["createdAt", "updatedAt"] = (
        "updatedAt" if raw_sort == "updatedAt" else "createdAt"
    )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        check.problem(("order",), "invalid_enum_value", "Expected 'asc' | 'desc'")
    check.raise_if_any()
    return PageQuery(limit=limit, cursor=cursor, sort=sort, descending=order != "asc")


def conversation_query(query: Mapping[str, str]) -> ConversationQuery:
    check = Checker()
    page = PageQuery(limit=_limit(check, query), cursor=_cursor(check, query))
    avatar = query.get("avatar")
    if avatar is not None and not UUID_V4.fullmatch(avatar):
        check.problem(("avatar",), "invalid_string", "Invalid uuid")
    start = _date_time(check, query, "startDate") if "startDate" in query else None
    end = _date_time(check, query, "endDate") if "endDate" in query else None
    check.raise_if_any()
    return ConversationQuery(page=page, avatar=avatar, start=start, end=end)


def usage_query(query: Mapping[str, str]) -> UsageQuery:
    check = Checker()
    start = _date_time(check, query, "startDate")
    end = _date_time(check, query, "endDate")
    if start is None or end is None:
        raise SandboxError(400, "Invalid request.", check.issues)
    if end < start:
        check.problem(("endDate",), "custom", "endDate must not be before startDate")
    elif end - start > timedelta(days=catalog.USAGE_RANGE_DAYS_MAX):
        check.problem(
            ("endDate",),
            "custom",
            f"The date range must not exceed {catalog.USAGE_RANGE_DAYS_MAX} days",
        )
    check.raise_if_any()
    return UsageQuery(start=start, end=end)


def _reference_image(root: ObjectView) -> str | None:
    """An https URL, a runway:// upload URI or a data:image/ URI, each with its own length."""
    value = root.optional_text("referenceImage")
    if value is None:
        return None
    for prefix, longest in _REFERENCE_KINDS:
        if value.startswith(prefix):
            if len(value) < catalog.REFERENCE_MIN:
                root.problem(
                    "referenceImage",
                    "too_small",
                    f"String must contain at least {catalog.REFERENCE_MIN} character(s)",
                )
            elif len(value) > longest:
                root.problem(
                    "referenceImage",
                    "too_big",
                    f"String must contain at most {longest} character(s)",
                )
            return value
    root.problem(
        "referenceImage",
        "invalid_union",
        "Expected an https:// URL, a runway:// upload URI or a data:image/ URI",
    )
    return value


def _voice(root: ObjectView) -> Voice | None:
    voice = root.child("voice")
    if voice is None:
        return None
    kind = voice.choice("type", ("runway-live-preset", "custom"))
    if kind == "custom":
        return Voice(custom=True, id=voice.uuid("id"))
    return Voice(custom=False, id=voice.choice("presetId", catalog.VOICE_PRESETS))


def _limit(check: Checker, query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return LIST_LIMIT_DEFAULT
    if not (raw.isascii() and raw.isdigit()):
        check.problem(("limit",), "invalid_type", f"Expected integer, received '{raw}'")
        return LIST_LIMIT_DEFAULT
    limit = int(raw)
    if not 1 <= limit <= catalog.LIST_LIMIT_MAX:
        check.problem(
            ("limit",),
            "too_big" if limit > 1 else "too_small",
            f"Number must be between 1 and {catalog.LIST_LIMIT_MAX}",
        )
    return limit


def _cursor(check: Checker, query: Mapping[str, str]) -> str | None:
    cursor = query.get("cursor")
    if cursor is not None and not 1 <= len(cursor) <= catalog.CURSOR_MAX:
        check.problem(
            ("cursor",),
            "too_big" if cursor else "too_small",
            f"String must contain between 1 and {catalog.CURSOR_MAX} character(s)",
        )
    return cursor


def _date_time(check: Checker, query: Mapping[str, str], key: str) -> datetime | None:
    raw = query.get(key)
    if raw is None:
        check.problem((key,), "invalid_type", "Required")
        return None
    if _DATE_TIME.fullmatch(raw):
        with contextlib.suppress(ValueError):  # e.g. February 30th
            return datetime.fromisoformat(raw)
    check.problem((key,), "invalid_string", "Invalid datetime; expected e.g. 2026-08-01T00:00:00Z")
    return None
