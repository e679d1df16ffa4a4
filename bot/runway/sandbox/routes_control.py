"""The control surface over HTTP under `/_sandbox/`, so a standalone sandbox can be driven.

Each route mirrors one method of `Sandbox` and takes a JSON body with the same arguments in
camelCase; all require the sandbox's API key but no version header. For example:

    curl -X POST $URL/_sandbox/faults -H "Authorization: Bearer $KEY" \\
         -d '{"method": "POST", "route": "/v1/avatars", "status": 503, "retryAfter": 2}'
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from bot.runway.sandbox.errors import Issue, SandboxError
from bot.runway.sandbox.records import SERVER_FAILURE

if TYPE_CHECKING:
    from bot.runway.sandbox.sandbox import Sandbox

M = TypeVar("M", bound="_Body")


class _Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


class _FaultBody(_Body):
    method: str
    route: str
    status: int | None = None
    times: int | None = 1
    retry_after: int | None = None
    latency: float = 0.0
    drop: bool = False
    body: Any = None
    before_handler: bool = True


class _AdvanceBody(_Body):
    seconds: float = Field(ge=0)


class _EndBody(_Body):
    after_seconds: float | None = Field(default=None, ge=0)


class _FailBody(_Body):
    failure: str = SERVER_FAILURE.failure
    code: str = SERVER_FAILURE.code


class _TranscriptEntryBody(_Body):
    role: str
    content: str


class _TranscriptBody(_Body):
    entries: list[_TranscriptEntryBody]


class ControlApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_sandbox/faults", self.inject),
            web.get("/_sandbox/traffic", self.traffic, allow_head=False),
            web.post("/_sandbox/advance", self.advance),
            web.post("/_sandbox/sessions/{id}/end", self.end_session),
            web.post("/_sandbox/sessions/{id}/fail", self.fail_session),
            web.post("/_sandbox/conversations/{id}/transcript", self.script_conversation),
            web.post("/_sandbox/reset", self.reset),
        ]

    async def inject(self, request: web.Request) -> web.Response:
        fault = await _read(request, _FaultBody)
        try:
            self._sandbox.inject(
                fault.method,
                fault.route,
                status=fault.status,
                times=fault.times,
                retry_after=fault.retry_after,
                latency=fault.latency,
                drop=fault.drop,
                body=fault.body,
                before_handler=fault.before_handler,
            )
        except ValueError as error:
            raise SandboxError(400, str(error)) from None
        return web.Response(status=204)

    async def traffic(self, request: web.Request) -> web.Response:
        return web.json_response(self._sandbox.traffic())

    async def advance(self, request: web.Request) -> web.Response:
        self._sandbox.advance((await _read(request, _AdvanceBody)).seconds)
        return web.Response(status=204)

    async def end_session(self, request: web.Request) -> web.Response:
        body = await _read(request, _EndBody)
        self._sandbox.end_session(request.match_info["id"], after_seconds=body.after_seconds)
        return web.Response(status=204)

    async def fail_session(self, request: web.Request) -> web.Response:
        body = await _read(request, _FailBody)
        self._sandbox.fail_session(request.match_info["id"], failure=body.failure, code=body.code)
        return web.Response(status=204)

    async def script_conversation(self, request: web.Request) -> web.Response:
        body = await _read(request, _TranscriptBody)
        entries = [(entry.role, entry.content) for entry in body.entries]
        try:
            self._sandbox.script_conversation(request.match_info["id"], entries)
        except ValueError as error:
            raise SandboxError(400, str(error)) from None
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        self._sandbox.reset()
        return web.Response(status=204)


async def _read(request: web.Request, model: type[M]) -> M:
    """The JSON body as `model`; an empty body means all defaults."""
    raw = await request.read()
    try:
        return model.model_validate(json.loads(raw) if raw else {})
    except ValueError as error:
        issues = (
            [Issue(e["type"], tuple(e["loc"]), e["msg"]) for e in error.errors()]
            if isinstance(error, ValidationError)
            else [Issue("invalid_json", (), "Body must be valid JSON")]
        )
        raise SandboxError(400, "Invalid request.", issues) from None
