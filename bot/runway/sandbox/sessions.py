"""Realtime sessions: creation under the concurrency limit, consumption, cancel, hang-up."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import uuid4

from bot.runway import catalog
from bot.runway.sandbox.clock import Clock
from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.errors import SandboxError
from bot.runway.sandbox.inputs import AvatarRef, ConversationQuery
from bot.runway.sandbox.pagination import paginate
from bot.runway.sandbox.records import (
    LIVE_STATUSES,
    SessionFailure,
    SessionRecord,
    SessionStatus,
)


class SessionBook:
    """Every session of the account; state transitions are recorded as timestamps."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._sessions: dict[str, SessionRecord] = {}
        self.peak_live = 0
        """The most live sessions the account held at once (it only grows at a creation)."""

    def clear(self) -> None:
        self._sessions.clear()
        self.peak_live = 0

    def create(
        self, max_seconds: int, *, consumed: bool, avatar: AvatarRef | None = None
    ) -> SessionRecord:
        """A new session; `consumed` when the dialect hands credentials out at creation."""
        limit = self._config.max_concurrent_sessions
        if limit is not None and self._live_count() >= limit:
            raise SandboxError(
                429,
                f"Your organization has reached its limit of {limit} concurrent "
                f"{catalog.SESSION_MODEL} sessions.",
            )
        now = self._clock()
        ready_at = now if consumed else now + timedelta(seconds=self._config.session_ready_seconds)
        session = SessionRecord(
            id=str(uuid4()),
            created_at=now,
            ready_at=ready_at,
            expires_at=ready_at + timedelta(seconds=self._config.session_ready_ttl_seconds),
            limit_seconds=min(max_seconds, self._config.enforced_max_seconds),
            session_key=secrets.token_urlsafe(32),
            consumed_at=now if consumed else None,
            avatar=avatar,
        )
        self._sessions[session.id] = session
        self.peak_live = max(self.peak_live, self._live_count())
        return session

    def session(self, session_id: str) -> SessionRecord:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SandboxError(404, "Realtime session not found.") from None

    def consume(self, session_id: str, session_key: str) -> SessionRecord:
        """Hand out the call credentials: only with the session key, only once, only READY.

        A second attempt is a 409 Conflict (not 410), the same answer as consuming a
        session that failed or was cancelled: the credentials are not available now.
        """
        session = self.session(session_id)
        if not hmac.compare_digest(session_key.encode(), session.session_key.encode()):
            raise SandboxError(401, "Invalid session key.")
        status = session.state(self._clock()).status
        if status is not SessionStatus.READY:
            raise SandboxError(
                409,
                f"The session is {status}; its credentials can be consumed only once, when READY.",
            )
        session.consumed_at = self._clock()
        return session

    def cancel(self, session_id: str) -> None:
        """Cancel a live session; a finished one keeps its final state (still a 204).

        Idempotent so that a client retrying a DELETE whose answer was lost succeeds.
        """
        session = self.session(session_id)
        if session.state(self._clock()).status in LIVE_STATUSES:
            session.cancelled = True
            session.finished_at = self._clock()

    def end(self, session_id: str, after_seconds: float | None = None) -> None:
        """The member hangs up now; the call lasted `after_seconds` (default: since it began).

        Setting the length directly lets a test produce an exact `duration` without moving
        the clock; the session's maximum (and the enforced cap) still applies.
        """
        if after_seconds is not None and after_seconds < 0:
            raise ValueError("a call cannot last less than no time")
        session = self.session(session_id)
        began = session.consumed_at
        status = session.state(self._clock()).status
        if began is None or status is not SessionStatus.RUNNING:
            raise SandboxError(409, f"The session is {status}; only a RUNNING call can end.")
        session.call_seconds = (
            (self._clock() - began).total_seconds() if after_seconds is None else after_seconds
        )

    def fail(self, session_id: str, failure: str, code: str) -> None:
        session = self.session(session_id)
        self._require(session, *LIVE_STATUSES)
        session.failure = SessionFailure(failure, code)
        session.finished_at = self._clock()

    def records(self) -> list[SessionRecord]:
        return list(self._sessions.values())

    def conversation(self, session_id: str) -> SessionRecord:
        """The session whose conversation is still kept (its id is the session's)."""
        session = self._sessions.get(session_id)
        if session is None or session.conversation_deleted:
            raise SandboxError(404, "Conversation not found.")
        return session

    def delete_conversation(self, session_id: str) -> None:
        """Forget a call's transcript and recording; a live call cannot lose them yet."""
        session = self.conversation(session_id)
        if session.state(self._clock()).status in LIVE_STATUSES:
            raise SandboxError(409, "The conversation is still in progress.")
        session.conversation_deleted = True

    def script(self, session_id: str, entries: list[tuple[str, str]]) -> None:
        """What the call's transcript says, instead of the default script."""
        if any(role not in ("user", "assistant") for role, _ in entries):
            raise ValueError("a transcript entry's role is 'user' or 'assistant'")
        self.conversation(session_id).script = tuple(entries)

    def conversations(self, query: ConversationQuery) -> tuple[list[SessionRecord], str | None]:
        """Sessions as Runway lists its conversations: newest first, filtered; a deleted
        conversation is no longer listed."""
        found = [
            session
            for session in self._sessions.values()
            if not session.conversation_deleted
            and (query.avatar is None or (session.avatar and session.avatar.id == query.avatar))
            and (query.start is None or session.created_at >= query.start)
            and (query.end is None or session.created_at < query.end)
        ]
        return paginate(found, lambda s: (s.created_at, s.id), query.page)

    def completed_calls(self) -> Iterator[tuple[datetime, int]]:
        """When each completed call began and how many seconds it lasted."""
        now = self._clock()
        for session in self._sessions.values():
            state = session.state(now)
            if state.duration is not None and session.consumed_at is not None:
                yield session.consumed_at, state.duration

    def _live_count(self) -> int:
        now = self._clock()
        return sum(s.state(now).status in LIVE_STATUSES for s in self._sessions.values())

    def _require(self, session: SessionRecord, *allowed: SessionStatus) -> None:
        status = session.state(self._clock()).status
        if status not in allowed:
            raise SandboxError(409, f"The session is {status}.")
