"""The aiohttp server that runs beside the Discord client on the same event loop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.web.join import JOIN_PREFIXES, JoinBackend, add_join_routes
from bot.web.metrics import MetricsEndpoint, add_metrics_route, request_middleware
from bot.web.security import DEFAULT_RATE_LIMITS, JoinRateLimits

log = logging.getLogger(__name__)


def _health(role: str) -> Handler:
    """For Docker's HEALTHCHECK and load balancers: the process is up and serving, and in
    which role (bot or web)."""
    body = {"status": "ok", "role": role}

    async def health(_: web.Request) -> web.Response:
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    return health


def build_app(
    backend: JoinBackend,
    *,
    livekit_dist: Path | None,
    livekit_origins: Sequence[str],
    rate_limits: JoinRateLimits = DEFAULT_RATE_LIMITS,
    metrics: MetricsEndpoint | None = None,
    role: str = "all",
) -> web.Application:
    """The health check and the join pages, served by `backend` (the session service), and
    `/metrics` when `metrics` is given (token-protected: see `bot.web.metrics`)."""
    app = web.Application(client_max_size=64 * 1024)
    app.middlewares.append(request_middleware(JOIN_PREFIXES))
    app.router.add_get("/healthz", _health(role))
    if metrics is not None:
        add_metrics_route(app, metrics)
    add_join_routes(
        app,
        backend,
        livekit_dist=livekit_dist,
        livekit_origins=livekit_origins,
        rate_limits=rate_limits,
    )
    return app


@asynccontextmanager
async def serving(app: web.Application, *, host: str, port: int) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields the address it listens on."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    try:
        await site.start()
        log.info("web server listening on %s", site.name)
        yield site.name
    finally:
        await runner.cleanup()
