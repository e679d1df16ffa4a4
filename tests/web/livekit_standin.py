"""A LiveKit stand-in on loopback: it records how a page tried to connect, then refuses.

It speaks none of LiveKit's protocol. livekit-client opens a websocket to `<url>/rtc/v1`
(or `/rtc` on older versions) with the token in the `access_token` query parameter; the
stand-in records that, closes the socket, and answers the client's follow-up
`/rtc/.../validate` question with 401, so the page reaches its "could not connect" state
quickly instead of waiting for a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Attempt:
    path: str
    token: str | None


@dataclass
class LiveKitStandIn:
    attempts: list[Attempt] = field(default_factory=list)
    validations: int = 0
    url: str = ""
    _attempted: asyncio.Event = field(default_factory=asyncio.Event)

    async def first_attempt(self, within: float) -> Attempt:
        async with asyncio.timeout(within):
            await self._attempted.wait()
        return self.attempts[0]

    async def _rtc(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/validate"):
            self.validations += 1
            return web.Response(
                status=401,
                text="stand-in: not a LiveKit server",
                headers={"Access-Control-Allow-Origin": "*"},
            )
        socket = web.WebSocketResponse()
        if not socket.can_prepare(request).ok:
            return web.Response(status=400, text="websocket expected")
        self.attempts.append(Attempt(request.path, request.query.get("access_token")))
        self._attempted.set()
        await socket.prepare(request)
        await socket.close()
        return socket

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[LiveKitStandIn]:
        app = web.Application()
        app.router.add_get("/rtc{tail:.*}", self._rtc)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()
