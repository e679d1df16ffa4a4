"""Runway's production Characters API (runway-openapi.json) over the emulated account."""

from __future__ import annotations

import asyncio
import secrets
from typing import Final

from aiohttp import web

from bot.runway.sandbox import parse_production as parse
from bot.runway.sandbox import render
from bot.runway.sandbox.clip_maker import audio_seconds
from bot.runway.sandbox.clock import Clock
from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.library import Library
from bot.runway.sandbox.media import MediaServer
from bot.runway.sandbox.sessions import SessionBook
from bot.runway.sandbox.tasks import TaskBook, TaskStatus
from bot.runway.sandbox.usage import summarise
from bot.runway.sandbox.wire import bearer, read_json

CONSUME_ROUTE: Final = "/v1/realtime_sessions/{id}/consume"


class ProductionApi:
    """One handler per operation; parsing, rules and rendering live in their own modules."""

    session_key_routes: Final = frozenset({CONSUME_ROUTE})

    def __init__(
        self,
        library: Library,
        sessions: SessionBook,
        config: SandboxConfig,
        clock: Clock,
        *,
        tasks: TaskBook,
        media: MediaServer,
    ) -> None:
        self._library = library
        self._sessions = sessions
        self._config = config
        self._clock = clock
        self._tasks = tasks
        self._media = media

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/avatars", self.create_avatar),
            web.get("/v1/avatars", self.list_avatars, allow_head=False),
            web.get("/v1/avatars/{id}", self.get_avatar, allow_head=False),
            web.patch("/v1/avatars/{id}", self.update_avatar),
            web.delete("/v1/avatars/{id}", self.delete_avatar),
            web.post("/v1/documents", self.create_document),
            web.get("/v1/documents", self.list_documents, allow_head=False),
            web.get("/v1/documents/{id}", self.get_document, allow_head=False),
            web.patch("/v1/documents/{id}", self.update_document),
            web.delete("/v1/documents/{id}", self.delete_document),
            web.post("/v1/realtime_sessions", self.create_session),
            web.get("/v1/realtime_sessions/{id}", self.get_session, allow_head=False),
            web.delete("/v1/realtime_sessions/{id}", self.cancel_session),
            web.post(CONSUME_ROUTE, self.consume_session),
            web.get("/v1/avatar_usage", self.usage, allow_head=False),
            web.get("/v1/avatar_conversations", self.list_conversations, allow_head=False),
            web.post("/v1/avatar_videos", self.create_video),
            web.get("/v1/tasks/{id}", self.get_task, allow_head=False),
            web.delete("/v1/tasks/{id}", self.cancel_task),
        ]

    async def create_avatar(self, request: web.Request) -> web.Response:
        avatar = self._library.create_avatar(parse.avatar_create(await read_json(request)))
        return web.json_response(render.avatar(avatar, self._clock()))

    async def list_avatars(self, request: web.Request) -> web.Response:
        avatars, cursor = self._library.avatars(parse.page_query(request.query))
        now = self._clock()
        return web.json_response(render.page([render.avatar(a, now) for a in avatars], cursor))

    async def get_avatar(self, request: web.Request) -> web.Response:
        avatar = self._library.avatar(_id(request))
        return web.json_response(render.avatar(avatar, self._clock()))

    async def update_avatar(self, request: web.Request) -> web.Response:
        avatar_id = _id(request)
        patch = parse.avatar_patch(await read_json(request))
        avatar = self._library.update_avatar(avatar_id, patch)
        return web.json_response(render.avatar(avatar, self._clock()))

    async def delete_avatar(self, request: web.Request) -> web.Response:
        self._library.delete_avatar(_id(request))
        return web.Response(status=204)

    async def create_document(self, request: web.Request) -> web.Response:
        document = self._library.create_document(parse.document_create(await read_json(request)))
        return web.json_response(render.document(document, [], self._clock(), content=True))

    async def list_documents(self, request: web.Request) -> web.Response:
        documents, cursor = self._library.documents(parse.document_page_query(request.query))
        now = self._clock()
        data = [
            render.document(d, self._library.users_of(d.id), now, content=False) for d in documents
        ]
        return web.json_response(render.page(data, cursor))

    async def get_document(self, request: web.Request) -> web.Response:
        document = self._library.document(_id(request))
        users = self._library.users_of(document.id)
        return web.json_response(render.document(document, users, self._clock(), content=True))

    async def update_document(self, request: web.Request) -> web.Response:
        document_id = _id(request)
        self._library.update_document(document_id, parse.document_patch(await read_json(request)))
        return web.Response(status=204)

    async def delete_document(self, request: web.Request) -> web.Response:
        self._library.delete_document(_id(request))
        return web.Response(status=204)

    async def create_session(self, request: web.Request) -> web.Response:
        spec = parse.session_create(await read_json(request))
        if spec.avatar.custom:
            self._library.check_session_avatar(spec.avatar.id, must_be_ready=True)
        session = self._sessions.create(spec.max_seconds, consumed=False, avatar=spec.avatar)
        return web.json_response({"id": session.id})

    async def list_conversations(self, request: web.Request) -> web.Response:
        sessions, cursor = self._sessions.conversations(parse.conversation_query(request.query))
        now = self._clock()
        data = [render.conversation(s, now, self._library.avatar_name(s.avatar)) for s in sessions]
        return web.json_response(render.page(data, cursor))

    async def get_session(self, request: web.Request) -> web.Response:
        session = self._sessions.session(_id(request))
        return web.json_response(render.session(session, self._clock()))

    async def cancel_session(self, request: web.Request) -> web.Response:
        self._sessions.cancel(_id(request))
        return web.Response(status=204)

    async def consume_session(self, request: web.Request) -> web.Response:
        """Hand out the LiveKit credentials, authenticated by the session key, not the API key."""
        session = self._sessions.consume(_id(request), bearer(request) or "")
        return web.json_response(
            {
                "url": self._config.livekit_url,
                "token": secrets.token_urlsafe(48),
                "roomName": f"sandbox-{session.id}",
            }
        )

    async def create_video(self, request: web.Request) -> web.Response:
        spec = parse.video_create(await read_json(request))
        image = None
        if spec.avatar.custom:
            self._library.check_session_avatar(spec.avatar.id, must_be_ready=True)
            image = self._library.avatar(spec.avatar.id).reference_image
        length = None
        if spec.audio is not None:
            length = await asyncio.to_thread(audio_seconds, spec.audio)
        task = self._tasks.create(spec, image=image, audio_seconds=length)
        return web.json_response({"id": task.id})

    async def get_task(self, request: web.Request) -> web.Response:
        task = self._tasks.task(_id(request))
        now = self._clock()
        output = [self._media.link(task)] if task.status(now) is TaskStatus.SUCCEEDED else []
        return web.json_response(render.task(task, now, output))

    async def cancel_task(self, request: web.Request) -> web.Response:
        self._tasks.cancel(_id(request))
        return web.Response(status=204)

    async def usage(self, request: web.Request) -> web.Response:
        query = parse.usage_query(request.query)
        return web.json_response(render.usage(summarise(self._sessions.completed_calls(), query)))


def _id(request: web.Request) -> str:
    return parse.resource_id(request.match_info["id"])
