"""Injected faults: a wrong status, a slow answer, or a connection closed without one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from bot.runway.sandbox.errors import error_body
from bot.settings import Dialect

JsonBody = str | bytes | dict[str, Any] | list[Any]


@dataclass(slots=True)
class Fault:
    """What to do to the next `remaining` requests of one route (None: all of them).

    Before the handler, a fault models a request that never got through; after it, one
    that was acted on but whose answer was slow, lost or replaced, which is what makes a
    client's read timeout dangerous for a billable POST.
    """

    method: str
    route: str
    status: int | None = None
    remaining: int | None = 1
    retry_after: int | None = None
    latency: float = 0.0
    drop: bool = False
    body: JsonBody | None = None
    before_handler: bool = True

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.remaining is not None and self.remaining < 1:
            raise ValueError("a fault must apply to at least one request (or times=None)")
        if self.latency < 0:
            raise ValueError("latency cannot be negative")
        if self.status is not None and self.status < 400 and self.body is None:
            raise ValueError("a fault answering a success status needs a body")

    @property
    def answers(self) -> bool:
        """Whether the fault replaces the answer rather than only delaying it."""
        return self.status is not None or self.body is not None

    def response(self, dialect: Dialect) -> web.Response:
        """The replacement answer; str and bytes bodies go out verbatim, labelled as JSON."""
        status = self.status or HTTPStatus.OK
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        if isinstance(self.body, str | bytes):
            raw = self.body.encode() if isinstance(self.body, str) else self.body
            return web.Response(
                body=raw, status=status, headers=headers, content_type="application/json"
            )
        body = self.body
        if body is None:
            message = f"{HTTPStatus(status).phrase} (injected by the sandbox)."
            body = error_body(dialect, status, message)
        return web.Response(
            text=json.dumps(body), status=status, headers=headers, content_type="application/json"
        )


class Faults:
    """Pending faults, applied first-in first-out per route."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._pending.append(fault)

    def take(self, method: str, route: str) -> Fault | None:
        """The fault for this request, if any, using up one of its applications."""
        for fault in self._pending:
            if fault.method == method.upper() and fault.route == route:
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._pending.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self._pending.clear()


def drop_connection(request: web.Request) -> web.Response:
    """Close the connection so the client gets no answer at all.

    aiohttp discards the returned response once the transport is closed.
    """
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=HTTPStatus.NO_CONTENT)
