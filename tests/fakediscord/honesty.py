"""The gate every REST request passes: log it, judge it, pace it, then answer it.

Before a route handler runs, the request is matched against Discord's OpenAPI
description and its body validated, then held to Discord's documented rules that the
description cannot express (`rules.py`); a request real Discord would refuse is recorded
as a `Violation` (which fails the test at teardown) and refused here the way Discord
refuses it (400 with code 50035 and its `errors` object, 50006 for an empty message, or
404 for a route that does not exist), so the bot also meets the error at run time.
Rate-limit headers and injected 429s are applied here, and with `check_responses` the
fake's own JSON replies are held to the same description.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from tests.fakediscord import rules
from tests.fakediscord.messages import Upload
from tests.fakediscord.openapi import MULTIPART, NO_BODY, DiscordSpec, RouteMatch
from tests.fakediscord.problems import Problem
from tests.fakediscord.ratelimits import too_many_requests
from tests.fakediscord.replies import (
    EMPTY_MESSAGE,
    INVALID_FORM_BODY,
    INVALID_JSON,
    REQUEST_TOO_LARGE,
    error_response,
    json_reply,
    not_found,
    unauthorized,
)
from tests.fakediscord.state import DiscordState, RestCall, Violation

API_PREFIX = "/api/v10"
# Routes authenticated by the interaction or webhook token in the path, not a bot token.
TOKEN_ROUTES = ("/interactions/", "/webhooks/")
MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id", "interaction_id")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What the middleware hands the route handlers (typed keys on aiohttp >= 3.12).
_RequestKey: Any = getattr(web, "RequestKey", None)
BODY: Any = _RequestKey("body", object) if _RequestKey else "body"
UPLOADS: Any = _RequestKey("uploads", list) if _RequestKey else "uploads"


def honesty_middleware(
    state: DiscordState, spec: DiscordSpec | None, *, check_responses: bool
) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        return await _judge(request, handler, state, spec, check_responses)

    return middleware


async def _judge(
    request: web.Request,
    handler: Handler,
    state: DiscordState,
    spec: DiscordSpec | None,
    check_responses: bool,
) -> web.StreamResponse:
    method = request.method
    path = request.raw_path.split("?", 1)[0][len(API_PREFIX) :]
    resource = request.match_info.route.resource
    template = resource.canonical[len(API_PREFIX) :] if resource is not None else None
    call = RestCall(method, path, template, dict(request.query), None, 0, time.monotonic())
    state.calls.append(call)

    def refuse(problems: list[str], response: web.StreamResponse) -> web.StreamResponse:
        state.violations.append(Violation(method, path, template, tuple(problems), call.body))
        call.status = response.status
        return response

    def invalid(problems: list[Problem]) -> web.StreamResponse:
        refused = error_response(400, INVALID_FORM_BODY, problems=problems)
        return refuse([str(problem) for problem in problems], refused)

    match = None
    if spec is not None:
        found = spec.find(method, path)
        if not isinstance(found, RouteMatch):
            return refuse([found.reason], not_found())
        match = found
        template = template or match.operation.template
        call.template = match.operation.template
        param_problems = spec.parameter_problems(match)
        if param_problems:
            return refuse(param_problems, not_found())
    if not path.startswith(TOKEN_ROUTES):
        authorization = request.headers.get("Authorization", "")
        if not (authorization.startswith("Bot ") and state.accept_token(authorization[4:])):
            return refuse(["no valid 'Authorization: Bot <token>' header"], unauthorized())

    try:
        body, uploads, content_type = await _read_body(request)
    except ValueError as exc:
        return refuse([str(exc)], error_response(400, INVALID_JSON))
    call.body = None if body is NO_BODY else body
    call.uploads = len(uploads)
    limit = state.upload_limit(request.match_info.get("channel_id"))
    if sum(len(u.data) for u in uploads) > limit:
        return refuse(
            [f"uploads exceed the {limit // (1024 * 1024)} MiB this channel's server takes"],
            error_response(413, REQUEST_TOO_LARGE),
        )
    if spec is not None and match is not None:
        problems = spec.body_problems(match, content_type, body)
        if problems:
            return invalid(problems)
    if template is not None:
        problems = rules.request_problems(method, template, body)
        if problems:
            return invalid(problems)
        if rules.is_empty_message(method, template, body, len(uploads)):
            return refuse(
                ["$: Cannot send an empty message (Discord error 50006)"],
                error_response(400, EMPTY_MESSAGE),
            )

    if request.match_info.http_exception is not None:
        # A real Discord route the fake does not emulate: a gap in the harness, not the bot.
        state.fake_problems.append(f"the fake does not emulate {method} {template or path}")
        call.status = 501
        return json_reply({"message": "not emulated by the fake", "code": 0}, status=501)

    route_template = call.template or path
    major = ":".join(str(request.match_info.get(name, "")) for name in MAJOR_PARAMETERS)
    bucket = state.ratelimits.headers(method, route_template, major)
    injection = state.ratelimits.take_injection(method, route_template)
    if injection is not None:
        response: web.StreamResponse = too_many_requests(injection, bucket)
    else:
        request[BODY] = {} if body is NO_BODY else body
        request[UPLOADS] = uploads
        response = await handler(request)
        response.headers.update(bucket)
    response.headers["Via"] = "1.1 google"
    call.status = response.status
    if check_responses and spec is not None and match is not None:
        _check_response(state, spec, match, response)
    return response


async def _read_body(request: web.Request) -> tuple[Any, list[Upload], str | None]:
    """The JSON body (or multipart `payload_json`) and any uploaded files."""
    content_type = request.content_type
    if content_type == MULTIPART:
        body: Any = NO_BODY
        uploads: list[Upload] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None) or ""
            data = await part.read()  # type: ignore[union-attr]
            if name == "payload_json":
                try:
                    body = json.loads(data)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"payload_json is not JSON: {exc}") from exc
            else:
                uploads.append(
                    Upload(
                        field=name,
                        filename=getattr(part, "filename", None) or name,
                        content_type=part.headers.get("Content-Type"),
                        data=bytes(data),
                    )
                )
        return body, uploads, MULTIPART
    raw = await request.read()
    if not raw:
        return NO_BODY, [], None
    try:
        return json.loads(raw), [], content_type
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc


def _check_response(
    state: DiscordState, spec: DiscordSpec, match: RouteMatch, response: web.StreamResponse
) -> None:
    if not isinstance(response, web.Response) or response.status == 429:
        return
    body: Any = NO_BODY
    if response.body is not None and response.content_type == "application/json":
        body = json.loads(response.text or "null")
    for problem in spec.response_problems(match, response.status, body):
        state.fake_problems.append(
            f"reply to {match.operation.method} {match.operation.template}: {problem}"
        )
