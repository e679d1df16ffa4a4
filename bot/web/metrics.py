"""`/metrics` for Prometheus, and what every web request records on its way through.

Metrics are off unless asked for. With METRICS_TOKEN alone they are served on the join pages'
port and every scrape must present that bearer token (anything else gets 401). With
METRICS_PORT they are served only by a listener of their own (the join port answers 404),
with the token checked there too when one is set. So the port members reach never shows
metrics by accident, and a reverse proxy that forwards only `/join/` and `/static/` keeps
even a token-protected `/metrics` off the internet.

The request middleware gives every request an id for the logs and counts join-page requests
by route template and outcome (the state the page or its script was told, e.g. `expired`),
never by code: a code in a label would be a secret in the metrics and a new series per link.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import SecretStr

from bot.telemetry import context
from bot.telemetry.exposition import ScrapeSource, scrape
from bot.telemetry.metrics import JOIN_DURATION, JOIN_RATE_LIMITED, JOIN_REQUESTS

METRICS_PATH: Final = "/metrics"
OUTCOME: Final = web.ResponseKey("outcome", str)
"""Where a join handler leaves its outcome for the middleware (see `record_outcome`)."""
UNMATCHED: Final = "unmatched"

_STATUS_OUTCOMES: Final = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limited",
}


@dataclass(slots=True)
class MetricsEndpoint:
    """What `/metrics` serves and who may read it; `token` None only on a port of its own."""

    token: SecretStr | None
    sources: dict[str, ScrapeSource] = field(default_factory=dict)

    def add_source(self, name: str, source: ScrapeSource) -> None:
        self.sources[name] = source

    async def handle(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            raise web.HTTPUnauthorized(
                text="Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        result = await scrape(self.sources, request.headers.get("Accept"))
        return web.Response(
            body=result.body,
            headers={"Content-Type": result.content_type, "Cache-Control": "no-store"},
        )

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        expected = self.token.get_secret_value().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), expected
        )


def add_metrics_route(app: web.Application, endpoint: MetricsEndpoint) -> None:
    app.router.add_get(METRICS_PATH, endpoint.handle, allow_head=False)


def build_metrics_app(endpoint: MetricsEndpoint) -> web.Application:
    """The listener of METRICS_PORT: `/metrics` and nothing else."""
    app = web.Application(client_max_size=1024)
    add_metrics_route(app, endpoint)
    return app


def record_outcome(response: web.StreamResponse, outcome: str) -> None:
    """Tell the metrics what a join route answered (one of its page or JSON states)."""
    response[OUTCOME] = outcome


def request_middleware(join_prefixes: tuple[str, ...]) -> Middleware:
    """Bind a request id for the logs to every request; count and time the join routes."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        with context.bound(request_id=context.new_request_id()):
            if not request.path.startswith(join_prefixes):
                return await handler(request)
            started = time.perf_counter()
            route = _route_of(request)
            try:
                response = await handler(request)
            except web.HTTPException as error:
                _count(route, error.status, None, started)
                raise
            except Exception:
                _count(route, 500, "error", started)
                raise
            _count(route, response.status, response.get(OUTCOME), started)
            return response

    return middleware


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


def _count(route: str, status: int, outcome: str | None, started: float) -> None:
    if status == 429:
        outcome = "rate_limited"
        JOIN_RATE_LIMITED.labels(route=route).inc()
    elif outcome is None:
        outcome = _outcome_of(status)
    JOIN_REQUESTS.labels(route=route, outcome=outcome).inc()
    JOIN_DURATION.labels(route=route).observe(time.perf_counter() - started)


def _outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    if status >= 500:
        return "error"
    return _STATUS_OUTCOMES.get(status, "client_error")
