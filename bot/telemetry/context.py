"""What a log line is about: the request, the server and the shard, where known.

Context variables follow a task and the tasks it creates, so a value bound where an
interaction arrives (or a join-page request) is seen by every log line written while
handling it, down to the services and storage, without passing it around.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogContext:
    request_id: str | None = None
    guild_id: int | None = None
    shard: int | None = None


_UNBOUND = LogContext()  # frozen: safe to share as every context's default
_CURRENT: ContextVar[LogContext] = ContextVar("log_context", default=_UNBOUND)


def current() -> LogContext:
    return _CURRENT.get()


@contextmanager
def bound(
    *, request_id: str | None = None, guild_id: int | None = None, shard: int | None = None
) -> Iterator[LogContext]:
    """Bind a request's context for the block (and every task created in it)."""
    context = LogContext(request_id=request_id, guild_id=guild_id, shard=shard)
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def new_request_id() -> str:
    """A request id for work that has none of its own (a join-page request): 64 random bits."""
    return secrets.token_hex(8)
