"""The JSON each dialect answers with, built from the stored records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.runway.sandbox.inputs import Voice
from bot.runway.sandbox.records import (
    AVATAR_FAILURE_REASON,
    AvatarRecord,
    AvatarStatus,
    DocumentRecord,
    SessionRecord,
    SessionStatus,
)
from bot.runway.sandbox.tasks import TaskRecord, TaskStatus
from bot.runway.sandbox.usage import Usage

Json = dict[str, Any]


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, the form Runway's date-time pattern takes."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def avatar(record: AvatarRecord, now: datetime) -> Json:
    status = record.status(now)
    body: Json = {
        "id": record.id,
        "name": record.name,
        "personality": record.personality,
        "startScript": record.start_script,
        "voice": voice(record.voice),
        "referenceImageUri": record.reference_preview(),
        "processedImageUri": record.processed_preview(now),
        "documentIds": list(record.document_ids),
        "createdAt": timestamp(record.created_at),
        "updatedAt": timestamp(record.updated_at),
        "status": str(status),
    }
    if status is AvatarStatus.FAILED:
        body["failureReason"] = AVATAR_FAILURE_REASON
    return body


def voice(value: Voice) -> Json:
    """Runway describes a voice in its answers; custom voices are not emulated beyond an id."""
    if value.custom:
        return {
            "type": "custom",
            "id": value.id,
            "deleted": False,
            "name": "Custom voice",
            "description": None,
        }
    name = value.id.capitalize()
    return {
        "type": "runway-live-preset",
        "presetId": value.id,
        "name": name,
        "description": f"{name}, one of Runway's live preset voices.",
    }


def document(
    record: DocumentRecord, users: list[AvatarRecord], now: datetime, *, content: bool
) -> Json:
    """A document; lists leave out `content`, single answers include it."""
    body: Json = {
        "id": record.id,
        "name": record.name,
        "type": "text",
        "usedBy": [
            {
                "id": a.id,
                "name": a.name,
                "imageUrl": a.processed_preview(now) or a.reference_preview(),
            }
            for a in users
        ],
        "createdAt": timestamp(record.created_at),
        "updatedAt": timestamp(record.updated_at),
    }
    if content:
        body["content"] = record.content
    return body


def page(data: list[Json], next_cursor: str | None) -> Json:
    return {"data": data, "hasMore": next_cursor is not None, "nextCursor": next_cursor}


def session(record: SessionRecord, now: datetime) -> Json:
    state = record.state(now)
    body: Json = {
        "id": record.id,
        "createdAt": timestamp(record.created_at),
        "status": str(state.status),
    }
    if state.status is SessionStatus.READY:
        body["sessionKey"] = record.session_key
        body["expiresAt"] = timestamp(record.expires_at)
    if state.duration is not None:
        body["duration"] = state.duration
    if state.failure is not None:
        body["failure"] = state.failure.failure
        body["failureCode"] = state.failure.code
    return body


_CONVERSATION_STATUS = {
    SessionStatus.NOT_READY: "in_progress",
    SessionStatus.READY: "in_progress",
    SessionStatus.RUNNING: "in_progress",
    SessionStatus.COMPLETED: "ended",
    SessionStatus.CANCELLED: "ended",
    SessionStatus.FAILED: "failed",
}


def conversation(record: SessionRecord, now: datetime, avatar_name: str | None) -> Json:
    """A session as an item of `GET /v1/avatar_conversations` (same id as the session)."""
    state = record.state(now)
    shown: Json | None = None
    if record.avatar is not None and record.avatar.custom:
        shown = {"type": "custom", "id": record.avatar.id, "name": avatar_name, "imageUrl": None}
    elif record.avatar is not None:
        name = record.avatar.id.replace("-", " ").title()
        shown = {"type": "runway-preset", "presetId": record.avatar.id, "name": name}
    return {
        "id": record.id,
        "name": f"Conversation {record.id[:8]}",
        "status": _CONVERSATION_STATUS[state.status],
        "avatar": shown,
        "createdAt": timestamp(record.created_at),
        "duration": state.duration,
        "hasTools": False,
    }


def usage(summary: Usage) -> Json:
    return {
        "totalSeconds": summary.total_seconds,
        "totalSessions": summary.total_sessions,
        "avgDurationSeconds": summary.avg_duration_seconds,
        "byDay": [
            {"date": day.day.isoformat(), "sessions": day.sessions, "seconds": day.seconds}
            for day in summary.by_day
        ],
    }


def created(record_id: str, name: str, created_at: datetime) -> Json:
    """The seed description's answer to every create: `{id, name, createdAt}`."""
    return {"id": record_id, "name": name, "createdAt": timestamp(created_at)}


def task(record: TaskRecord, now: datetime, output: list[str]) -> Json:
    """A task in each status's own shape (runway-openapi.json allows no other fields)."""
    status = record.status(now)
    body: Json = {"id": record.id, "createdAt": timestamp(record.created_at), "status": str(status)}
    if status is TaskStatus.RUNNING:
        body["progress"] = record.progress(now)
    if status in (TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING):
        body["estimatedCost"] = {"credits": record.credits}
        return body
    body["cost"] = {"credits": record.cost(now)}
    if status is TaskStatus.SUCCEEDED:
        body["output"] = output
    elif status is TaskStatus.FAILED and record.failure is not None:
        body["failure"] = record.failure.failure
        body["failureCode"] = record.failure.code
    return body
