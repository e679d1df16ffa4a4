"""Small readers of incoming HTTP requests shared by the gate and the routes."""

from __future__ import annotations

import json

from aiohttp import web

from bot.runway.sandbox.errors import Issue, SandboxError


async def read_json(request: web.Request) -> object:
    """The decoded JSON body; a body that is not JSON is a 400 like any other bad input."""
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError:
        raise SandboxError(
            400, "Invalid request body.", [Issue("invalid_json", (), "Body must be valid JSON")]
        ) from None


def bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if there is one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def route_of(request: web.Request) -> str | None:
    """The route template a request matched (e.g. `/v1/avatars/{id}`), None if none did."""
    match_info = request.match_info
    if match_info.http_exception is not None:
        return None
    resource = match_info.route.resource
    return None if resource is None else resource.canonical
