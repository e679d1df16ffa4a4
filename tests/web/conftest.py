"""The join routes on a real aiohttp server on loopback, with a fake backend.

The app is `build_app()`, as the composition root builds it, and the runner has no
access log, as in production: join codes are in paths.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.web.metrics import MetricsEndpoint
from bot.web.security import DEFAULT_RATE_LIMITS, JoinRateLimits
from bot.web.server import build_app
from tests.web.fake_backend import FakeBackend

LIVEKIT_ORIGIN = "wss://livekit.example.test"
ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def livekit_dist(tmp_path: Path) -> Path:
    """A stand-in for `npm ci`'s output, so route tests do not need node_modules."""
    dist = tmp_path / "node_modules" / "livekit-client" / "dist"
    dist.mkdir(parents=True)
    (dist.parent / "package.json").write_text(json.dumps({"version": "2.99.0"}))
    build = dist / "livekit-client.umd.js"
    build.write_text("globalThis.LivekitClient = {};\n" + "// padding\n" * 500)
    return build


@pytest.fixture
async def make_client(backend: FakeBackend, livekit_dist: Path) -> AsyncIterator[ClientFactory]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(
        *,
        rate_limits: JoinRateLimits = DEFAULT_RATE_LIMITS,
        without_livekit: bool = False,
        metrics: MetricsEndpoint | None = None,
    ) -> TestClient[web.Request, web.Application]:
        app = build_app(
            backend,
            livekit_dist=None if without_livekit else livekit_dist,
            livekit_origins=[LIVEKIT_ORIGIN],
            rate_limits=rate_limits,
            metrics=metrics,
        )
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(access_log=None)  # as `serving()` runs it in production
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
