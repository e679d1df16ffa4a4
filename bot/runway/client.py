"""The one HTTP client the bot uses to talk to Runway.

One `httpx.AsyncClient` per process keeps connections warm. Every answer is parsed into
the models in `models.py`, every failure into the errors in `errors.py`; the dialect
rules decide field names and which operations exist.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from bot import __version__
from bot.clip import clip
from bot.runway import catalog, metered
from bot.runway.dialects import RULES, DialectRules, Operation
from bot.runway.errors import (
    BadRequestError,
    ConflictError,
    Issue,
    NotFoundError,
    NotSupportedError,
    ProtocolError,
    RateLimitedError,
    RunwayError,
    RunwayTimeoutError,
    UnauthorizedError,
    UnavailableError,
)
from bot.runway.models import (
    Avatar,
    AvatarChanges,
    AvatarSpec,
    AvatarStatus,
    Conversation,
    ConversationDetail,
    CreatedSession,
    CreatedTask,
    Document,
    Page,
    RealtimeSession,
    SessionCredentials,
    SessionSpec,
    SessionStatus,
    Task,
    Usage,
    VideoSpec,
)
from bot.runway.retry import NOT_SENT_ERRORS, REFUSED_STATUSES, RetryPolicy, retry_after_seconds
from bot.settings import Dialect

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
CREATE_READ_SECONDS = 120.0
"""How long a billable create may take to answer. Runway has been seen to answer an avatar
create after 40 s, having made it: giving up sooner only trades an answer for a search."""
_MAX_ERROR_TEXT = 300
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")
# How Runway words a 429 for sessions live at once, as opposed to its daily limit.
_CONCURRENCY = re.compile(r"concurren|at (the same time|once)|simultaneous", re.IGNORECASE)

AvatarProgress = Callable[[Avatar], Awaitable[None]]


class RunwayClient:
    """Runway's Characters API in either dialect. Use as an async context manager."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        dialect: Dialect = Dialect.PRODUCTION,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        create_read_seconds: float = CREATE_READ_SECONDS,
    ) -> None:
        self.rules: DialectRules = RULES[dialect]
        self._api_key = api_key
        self._retry = retry or RetryPolicy()
        self._create_timeout = httpx.Timeout(
            connect=timeout.connect,
            read=create_read_seconds,
            write=timeout.write,
            pool=timeout.pool,
        )
        self.create_read_seconds = create_read_seconds
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={
                "X-Runway-Version": catalog.API_VERSION,
                "User-Agent": f"runway-characters-discord/{__version__}",
            },
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # Avatars

    async def create_avatar(self, spec: AvatarSpec) -> Avatar:
        self._require(Operation.AVATAR_CREATE)
        data = await self._json(
            "POST",
            "/v1/avatars",
            json=self.rules.avatar_body(spec),
            http_timeout=self._create_timeout,
        )
        return self._parse(lambda: self.rules.parse_created_avatar(data, spec))

    async def get_avatar(self, avatar_id: str) -> Avatar:
        self._require(Operation.AVATAR_GET)
        return self._model(Avatar, await self._json("GET", f"/v1/avatars/{avatar_id}"))

    async def list_avatars(self, *, limit: int = 50, cursor: str | None = None) -> Page[Avatar]:
        self._require(Operation.AVATAR_LIST)
        params = _page_params(limit, cursor)
        return self._model(Page[Avatar], await self._json("GET", "/v1/avatars", params=params))

    async def update_avatar(self, avatar_id: str, changes: AvatarChanges) -> Avatar:
        self._require(Operation.AVATAR_UPDATE)
        body = _avatar_patch(changes, self.rules)
        data = await self._json("PATCH", f"/v1/avatars/{avatar_id}", json=body)
        return self._model(Avatar, data)

    async def delete_avatar(self, avatar_id: str) -> None:
        self._require(Operation.AVATAR_DELETE)
        await self._request("DELETE", f"/v1/avatars/{avatar_id}")

    async def wait_for_avatar(
        self,
        avatar_id: str,
        *,
        max_wait: float = 600.0,
        interval: float = 2.0,
        progress: AvatarProgress | None = None,
    ) -> Avatar:
        """Poll until the avatar leaves PROCESSING; `progress` sees every answer, so a
        command can keep its member informed. Returns the READY or FAILED avatar."""
        deadline = time.monotonic() + max_wait
        while True:
            avatar = await self.get_avatar(avatar_id)
            if progress is not None:
                await progress(avatar)
            if avatar.status is not AvatarStatus.PROCESSING:
                return avatar
            if time.monotonic() + interval > deadline:
                raise RunwayTimeoutError(
                    "Runway is still preparing this avatar; check again in a few minutes."
                )
            await asyncio.sleep(interval)

    # Documents

    async def create_document(self, name: str, content: str) -> Document:
        self._require(Operation.DOCUMENT_CREATE)
        data = await self._json(
            "POST",
            "/v1/documents",
            json={"name": name, "content": content},
            http_timeout=self._create_timeout,
        )
        return self._parse(lambda: self.rules.parse_created_document(data))

    async def get_document(self, document_id: str) -> Document:
        self._require(Operation.DOCUMENT_GET)
        return self._model(Document, await self._json("GET", f"/v1/documents/{document_id}"))

    async def list_documents(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        sort: str = "createdAt",
        order: str = "desc",
    ) -> Page[Document]:
        self._require(Operation.DOCUMENT_LIST)
        params = {**_page_params(limit, cursor), "sort": sort, "order": order}
        data = await self._json("GET", "/v1/documents", params=params)
        return self._model(Page[Document], data)

    async def update_document(
        self, document_id: str, *, name: str | None = None, content: str | None = None
    ) -> None:
        self._require(Operation.DOCUMENT_UPDATE)
        body = {key: value for key, value in (("name", name), ("content", content)) if value}
        await self._request("PATCH", f"/v1/documents/{document_id}", json=body)

    async def delete_document(self, document_id: str) -> None:
        self._require(Operation.DOCUMENT_DELETE)
        await self._request("DELETE", f"/v1/documents/{document_id}")

    # Realtime sessions

    async def create_session(self, spec: SessionSpec) -> CreatedSession:
        self._require(Operation.SESSION_CREATE)
        body = self.rules.session_body(spec)
        data = await self._json(
            "POST", "/v1/realtime_sessions", json=body, http_timeout=self._create_timeout
        )
        return self._parse(lambda: self.rules.parse_created_session(data))

    async def get_session(self, session_id: str) -> RealtimeSession:
        self._require(Operation.SESSION_GET)
        data = await self._json("GET", f"/v1/realtime_sessions/{session_id}")
        return self._model(RealtimeSession, data)

    async def cancel_session(self, session_id: str) -> None:
        self._require(Operation.SESSION_CANCEL)
        await self._request("DELETE", f"/v1/realtime_sessions/{session_id}")

    async def wait_for_session_ready(
        self, session_id: str, *, max_wait: float = 30.0, interval: float = 1.0
    ) -> RealtimeSession:
        """Poll about once a second, as Runway's own samples do, until READY."""
        deadline = time.monotonic() + max_wait
        while True:
            session = await self.get_session(session_id)
            if session.status is SessionStatus.READY:
                return session
            if session.status is not SessionStatus.NOT_READY:
                raise ConflictError(
                    f"The session can no longer be joined (it is {session.status.value.lower()})."
                )
            if time.monotonic() + interval > deadline:
                raise RunwayTimeoutError("The avatar took too long to get ready; try again.")
            await asyncio.sleep(interval)

    async def consume_session(self, session_id: str, session_key: SecretStr) -> SessionCredentials:
        """Exchange the session key for the room credentials. Runway hands them out
        once, so this is never retried after the request may have arrived."""
        self._require(Operation.SESSION_CONSUME)
        data = await self._json(
            "POST", f"/v1/realtime_sessions/{session_id}/consume", bearer=session_key
        )
        return self._model(SessionCredentials, data)

    async def list_conversations(
        self,
        *,
        start: datetime,
        end: datetime,
        avatar_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Conversation]:
        """Sessions created in [start, end), newest first (a conversation's id is its
        session's id); only of `avatar_id` when given."""
        self._require(Operation.CONVERSATION_LIST)
        params = {**_page_params(limit, cursor), "startDate": _iso(start), "endDate": _iso(end)}
        if avatar_id is not None:
            params["avatar"] = avatar_id
        data = await self._json("GET", "/v1/avatar_conversations", params=params)
        return self._model(Page[Conversation], data)

    # Avatar videos

    async def create_avatar_video(self, spec: VideoSpec) -> str:
        """Start rendering a video of the avatar speaking; the task's id. Billed, so it is
        sent again only when it certainly never arrived (see retry.py)."""
        self._require(Operation.VIDEO_CREATE)
        data = await self._json(
            "POST",
            "/v1/avatar_videos",
            json=self.rules.video_body(spec),
            http_timeout=self._create_timeout,
        )
        return self._model(CreatedTask, data).id

    async def get_task(self, task_id: str) -> Task:
        self._require(Operation.TASK_GET)
        return self._model(Task, await self._json("GET", f"/v1/tasks/{task_id}"))

    async def cancel_task(self, task_id: str) -> None:
        """Cancel a task still in progress (a finished one is deleted). Runway answers 404
        for a task already cancelled or deleted, which callers may take as done."""
        self._require(Operation.TASK_CANCEL)
        await self._request("DELETE", f"/v1/tasks/{task_id}")

    async def get_conversation(self, conversation_id: str) -> ConversationDetail:
        """A call's transcript and a fresh link to its recording (the id is its session's)."""
        self._require(Operation.CONVERSATION_GET)
        data = await self._json("GET", f"/v1/avatar_conversations/{conversation_id}")
        return self._model(ConversationDetail, data)

    async def delete_conversation(self, conversation_id: str) -> None:
        """Delete a call's transcript and recording at Runway."""
        self._require(Operation.CONVERSATION_DELETE)
        await self._request("DELETE", f"/v1/avatar_conversations/{conversation_id}")

    # Usage

    async def usage(self, start: datetime, end: datetime) -> Usage:
        self._require(Operation.USAGE)
        params = {"startDate": _iso(start), "endDate": _iso(end)}
        return self._model(Usage, await self._json("GET", "/v1/avatar_usage", params=params))

    # Plumbing

    def _require(self, operation: Operation) -> None:
        if not self.rules.supports(operation):
            raise NotSupportedError(
                f"Runway's {self.rules.dialect.value} API this bot is set up for has no way of "
                f"{operation.value}."
            )

    async def _json(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        bearer: SecretStr | None = None,
        http_timeout: httpx.Timeout | None = None,
    ) -> dict[str, Any]:
        response = await self._request(
            method, path, json=json, params=params, bearer=bearer, http_timeout=http_timeout
        )
        data = _decode(response)
        if not isinstance(data, dict):
            raise ProtocolError(status=response.status_code, uncertain=True)
        return data

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        bearer: SecretStr | None = None,
        http_timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        token = (bearer or self._api_key).get_secret_value()
        extra: dict[str, Any] = {} if http_timeout is None else {"timeout": http_timeout}
        headers = {"Authorization": f"Bearer {token}"}
        policy = self._retry
        for attempt in range(policy.attempts):
            last = attempt + 1 == policy.attempts
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    method, path, json=json, params=params, headers=headers, **extra
                )
            except httpx.TransportError as error:
                metered.observe(method, path, None, time.perf_counter() - started)
                log.warning("runway %s %s failed: %s", method, path, type(error).__name__)
                if last or not policy.may_retry_error(method, error):
                    raise _transport_error(error) from None
                await asyncio.sleep(policy.backoff(attempt))
                continue
            elapsed = time.perf_counter() - started
            metered.observe(method, path, response.status_code, elapsed)
            log.debug(
                "runway %s %s -> %s in %.0f ms", method, path, response.status_code, elapsed * 1000
            )
            if response.is_success:
                return response
            if not last and policy.may_retry_status(method, response.status_code):
                wait = retry_after_seconds(response)
                if wait is None:
                    wait = policy.backoff(attempt)
                if wait <= policy.max_retry_after:
                    await asyncio.sleep(wait)
                    continue
            raise _status_error(response)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _model(self, model: type[M], data: dict[str, Any]) -> M:
        return self._parse(lambda: model.model_validate(data))

    @staticmethod
    def _parse(build: Callable[[], R]) -> R:
        try:
            return build()
        except (ValidationError, KeyError, TypeError) as error:
            log.warning("runway answer did not match the expected shape: %s", error)
            raise ProtocolError(uncertain=True) from None


def _page_params(limit: int, cursor: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": max(1, min(catalog.LIST_LIMIT_MAX, limit))}
    if cursor:
        params["cursor"] = cursor
    return params


def _avatar_patch(changes: AvatarChanges, rules: DialectRules) -> dict[str, Any]:
    fields = changes.model_fields_set
    body: dict[str, Any] = {}
    if "name" in fields and changes.name is not None:
        body["name"] = changes.name
    if "reference_image" in fields and changes.reference_image is not None:
        body["referenceImage"] = changes.reference_image
    if "personality" in fields and changes.personality is not None:
        body["personality"] = changes.personality
    if "start_script" in fields:
        body[rules.start_script_field] = changes.start_script or None
    if "voice_preset" in fields and changes.voice_preset is not None:
        body["voice"] = {"type": "runway-live-preset", "presetId": changes.voice_preset}
    if "document_ids" in fields and changes.document_ids is not None:
        body["documentIds"] = list(changes.document_ids)
    return body


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(status=response.status_code, uncertain=True) from None


def _transport_error(error: httpx.TransportError) -> RunwayError:
    uncertain = not isinstance(error, NOT_SENT_ERRORS)
    if isinstance(error, httpx.TimeoutException):
        return RunwayTimeoutError(uncertain=uncertain)
    if isinstance(error, httpx.ConnectError):
        return UnavailableError("The bot could not reach Runway; try again in a few minutes.")
    return UnavailableError(
        "The connection to Runway broke off; try again in a moment.", uncertain=True
    )


def _status_error(response: httpx.Response) -> RunwayError:
    status = response.status_code
    text, issues = _error_details(response)
    if status in (400, 422):
        message = f"Runway refused the request: {text}" if text else None
        return BadRequestError(message, status=status, issues=issues)
    if status in (401, 403):
        return UnauthorizedError(status=status)
    if status == 404:
        return NotFoundError(status=status)
    if status in (409, 410):
        return ConflictError(f"Runway says: {text}" if text else None, status=status)
    if status == 429:
        return RateLimitedError(
            f"Runway's limit is reached: {text}" if text else None,
            retry_after=retry_after_seconds(response),
            concurrency=_CONCURRENCY.search(text) is not None,
        )
    if status >= 500:
        # A 503 means "not processed" (see retry.py); other server errors may come after work.
        return UnavailableError(status=status, uncertain=status not in REFUSED_STATUSES)
    return ProtocolError(f"Runway answered with an unexpected status ({status}).", status=status)


def _error_details(response: httpx.Response) -> tuple[str, tuple[Issue, ...]]:
    """Runway's `error` text and `issues`, cleaned: shown to members, so printable and short."""
    try:
        data = response.json()
    except ValueError:
        return "", ()
    if not isinstance(data, dict):
        return "", ()
    issues: list[Issue] = []
    for raw in data.get("issues") or ():
        if isinstance(raw, dict):
            path = ".".join(str(part) for part in raw.get("path") or ())
            issues.append(
                Issue(path=path, message=_clean(raw.get("message")), code=raw.get("code"))
            )
    return _clean(data.get("error")), tuple(issues)


def _clean(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return clip(_UNPRINTABLE.sub(" ", value).strip(), _MAX_ERROR_TEXT)
