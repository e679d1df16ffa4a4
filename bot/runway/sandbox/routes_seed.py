"""The seed description's four operations over the emulated account; all else is 404."""

from __future__ import annotations

import secrets
from typing import Final

from aiohttp import web

from bot.runway.sandbox import parse_seed as parse
from bot.runway.sandbox import render
from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.library import Library
from bot.runway.sandbox.sessions import SessionBook
from bot.runway.sandbox.wire import read_json


class SeedApi:
    """Creates answer `{id, name, createdAt}`; a session comes with its credentials at once."""

    session_key_routes: Final[frozenset[str]] = frozenset()
    public_routes: Final[frozenset[str]] = frozenset()

    def __init__(self, library: Library, sessions: SessionBook, config: SandboxConfig) -> None:
        self._library = library
        self._sessions = sessions
        self._config = config

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/avatars", self.create_avatar),
            web.post("/v1/realtime_sessions", self.create_session),
            web.post("/v1/documents", self.create_document),
            web.delete("/v1/documents/{id}", self.delete_document),
        ]

    async def create_avatar(self, request: web.Request) -> web.Response:
        avatar = self._library.create_avatar(parse.avatar_create(await read_json(request)))
        return web.json_response(render.created(avatar.id, avatar.name, avatar.created_at))

    async def create_session(self, request: web.Request) -> web.Response:
        """A session whose credentials are handed over now; the call starts counting at once."""
        spec = parse.session_create(await read_json(request))
        if spec.avatar.custom:
            self._library.check_session_avatar(spec.avatar.id, must_be_ready=False)
        session = self._sessions.create(spec.max_seconds, consumed=True, avatar=spec.avatar)
        return web.json_response(
            {
                "id": session.id,
                "status": "READY",
                "serverUrl": self._config.livekit_url,
                "token": secrets.token_urlsafe(48),
                "roomName": f"sandbox-{session.id}",
            }
        )

    async def create_document(self, request: web.Request) -> web.Response:
        document = self._library.create_document(parse.document_create(await read_json(request)))
        return web.json_response(render.created(document.id, document.name, document.created_at))

    async def delete_document(self, request: web.Request) -> web.Response:
        self._library.delete_document(request.match_info["id"])
        return web.Response(status=204)
