"""The aiohttp server that runs beside the Discord client on the same event loop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

log = logging.getLogger(__name__)


async def _health(_: web.Request) -> web.Response:
    """For Docker's HEALTHCHECK and load balancers: the process is up and serving."""
    return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})


def build_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_get("/healthz", _health)
    return app


@asynccontextmanager
async def serving(app: web.Application, *, host: str, port: int) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields the address it listens on."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port, shutdown_timeout=2.0)
    try:
        await site.start()
        log.info("web server listening on %s", site.name)
        yield site.name
    finally:
        await runner.cleanup()
