"""What happens to every request around its handler: counting, faults, auth, version."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.runway import catalog
from bot.runway.sandbox.errors import SandboxError, error_response
from bot.runway.sandbox.faults import Fault, Faults, drop_connection
from bot.runway.sandbox.traffic import Traffic
from bot.runway.sandbox.wire import bearer, route_of
from bot.settings import Dialect

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTROL_PREFIX: Final = "/_sandbox/"


class Gate:
    """The sandbox's single middleware.

    Order matters and mirrors a real gateway: a request is counted on arrival, may then
    meet an injected fault, is authenticated (API key, then version header), and only then
    reaches its handler. Unknown routes and methods are 404 in the dialect's error format.
    """

    def __init__(
        self,
        dialect: Dialect,
        api_key: str,
        faults: Faults,
        traffic: Traffic,
        *,
        key_routes: frozenset[str],
        public_routes: frozenset[str] = frozenset(),
    ) -> None:
        self._dialect = dialect
        self._api_key = api_key
        self._faults = faults
        self._traffic = traffic
        self._key_routes = key_routes
        """Routes that check a session key themselves instead of the API key."""
        self._public_routes = public_routes
        """Routes whose links carry their own signature (recording downloads)."""

    def middleware(self) -> Middleware:
        @web.middleware
        async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._pass(request, handler)

        return gate

    async def _pass(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is None:
            return error_response(self._dialect, SandboxError(404, "Not found."))
        if route.startswith(CONTROL_PREFIX):
            return await self._guarded(request, handler, route)
        self._traffic.arrived(request.method, route)
        fault = self._faults.take(request.method, route)
        if fault is not None and fault.before_handler:
            replaced = await self._apply(request, fault)
            if replaced is not None:
                return replaced
        response = await self._guarded(request, handler, route)
        if 200 <= response.status < 300:
            self._traffic.succeeded(request.method, route)
        if fault is not None and not fault.before_handler:
            return await self._apply(request, fault) or response
        return response

    async def _apply(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.drop:
            return drop_connection(request)
        return fault.response(self._dialect) if fault.answers else None

    async def _guarded(
        self, request: web.Request, handler: Handler, route: str
    ) -> web.StreamResponse:
        try:
            self._authorize(request, route)
            return await handler(request)
        except SandboxError as error:
            return error_response(self._dialect, error)
        except web.HTTPException as error:  # aiohttp's own refusals, e.g. a body too large
            return error_response(self._dialect, SandboxError(error.status, error.reason))

    def _authorize(self, request: web.Request, route: str) -> None:
        if route in self._public_routes:
            return
        if route not in self._key_routes:
            token = bearer(request) or ""
            if not hmac.compare_digest(token.encode(), self._api_key.encode()):
                raise SandboxError(401, "Invalid or missing API key.")
        if (
            not route.startswith(CONTROL_PREFIX)
            and request.headers.get("X-Runway-Version") != catalog.API_VERSION
        ):
            raise SandboxError(400, f"The X-Runway-Version header must be {catalog.API_VERSION}.")
