"""The join page: GET shows it, a POST from its script hands out the call's credentials once.

GET never uses a code up, because Discord and other link previewers fetch URLs too. The
credentials go out only in answer to a same-origin POST that carries the `X-Join` header:
a cross-site form cannot set that header, and a cross-site fetch that sets it needs a CORS
preflight this server never approves. Codes never reach a log line: they are in the path,
so nothing here logs paths, and failures are logged with the code blanked out.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiohttp import web

from bot.services.join_types import JoinCredentials, JoinPicture, JoinState, JoinView
from bot.web.assets import STATIC_ROOT, VENDOR_PATH, PageAssets
from bot.web.metrics import record_outcome
from bot.web.security import (
    DEFAULT_RATE_LIMITS,
    JoinRateLimits,
    Rate,
    RateLimiter,
    client_address,
    content_security_policy,
    security_headers,
)

log = logging.getLogger(__name__)

JOIN_PREFIXES = ("/join/", "/static/")
END_REASONS = frozenset({"member_ended", "time_limit", "disconnected"})
# Codes are URL-safe base64 of at least 16 random bytes; anything else is refused before
# the backend is asked, with the same page as an unknown code.
_CODE = re.compile(r"[A-Za-z0-9_-]{22,128}")
# Every refusal takes at least this long, so the backend's work for a used code and a
# never-issued one cannot be told apart by timing.
REFUSAL_FLOOR_SECONDS = 0.25
# Runway has been seen to end calls at about this, whatever maxDuration was asked.
RUNWAY_CAP_SECONDS = 300


class JoinBackend(Protocol):
    """What the join routes need from the session service."""

    async def view(self, code: str) -> tuple[JoinState, JoinView | None]:
        """The page's contents for `code`; never consumes it."""
        ...

    async def redeem(
        self, code: str, secret: str | None = None
    ) -> tuple[JoinState, JoinCredentials | None]:
        """OK and credentials the first time, and again to the browser that sent the same
        `secret` then (WARMING while that first request still waits); otherwise the state.

        May take up to ~30 s: it waits for Runway to report the session READY.
        """
        ...

    async def ended(self, code: str, reason: str) -> None:
        """The page says the call ended (one of END_REASONS); idempotent."""
        ...

    async def picture(self, code: str) -> tuple[JoinState, JoinPicture | None]:
        """The avatar's picture while the link is usable (OK); never consumes it."""
        ...


@dataclass(frozen=True, slots=True)
class _Refusal:
    state: str  # what the page's script sees
    status: int
    title: str
    message: str


# A used code and a never-issued one look exactly the same from outside.
_INVALID = _Refusal(
    "invalid", 404, "This link can't be used", "This link has already been used or is not valid."
)
_REFUSALS = {
    JoinState.USED: _INVALID,
    JoinState.UNKNOWN: _INVALID,
    JoinState.EXPIRED: _Refusal(
        "expired",
        410,
        "This link has expired",
        "Join links stop working a while after /session start, and this one is past that.",
    ),
    JoinState.ENDED: _Refusal(
        "ended", 409, "This session has ended", "The call this link was made for is already over."
    ),
    JoinState.FAILED: _Refusal(
        "failed",
        409,
        "The call could not start",
        "Runway could not get the call ready, so it was stopped. It costs nothing.",
    ),
}
_AGAIN = "To talk again, run /session start in Discord; the bot will send you a new link."
_USED_ELSEWHERE = (
    "This link was already used in another browser, so it can't be used here. If that was "
    "you and the call is lost: run /session end in Discord, then /session start for a new link."
)


def add_join_routes(
    app: web.Application,
    backend: JoinBackend,
    *,
    livekit_dist: Path | None,
    livekit_origins: Sequence[str],
    static_root: Path = STATIC_ROOT,
    rate_limits: JoinRateLimits = DEFAULT_RATE_LIMITS,
) -> None:
    """Register the join page, its JSON routes, its static files and its headers on `app`.

    `livekit_dist` is the livekit-client browser build (`assets.find_livekit_dist()`); when
    it is None the page still renders and explains that the web assets are not installed.
    `livekit_origins` are the LiveKit servers the page may connect to (for example
    `wss://*.livekit.cloud`); the Content-Security-Policy allows nothing else.
    """
    assets = PageAssets(static_root, livekit_dist)
    if assets.livekit is None:
        log.warning(
            "livekit-client is not installed (run `npm ci` in the bot's folder): "
            "join pages will say that calls cannot start"
        )
    handlers = _JoinHandlers(backend, assets, rate_limits)
    app.middlewares.append(
        security_headers(content_security_policy(livekit_origins), JOIN_PREFIXES)
    )
    app.router.add_get("/join/{code}", handlers.page)
    app.router.add_post("/join/{code}/credentials", handlers.credentials)
    app.router.add_post("/join/{code}/ended", handlers.ended)
    app.router.add_get("/join/{code}/picture", handlers.picture)
    app.router.add_get(VENDOR_PATH, handlers.vendor)
    app.router.add_get("/static/{name}", handlers.static)


class _JoinHandlers:
    def __init__(self, backend: JoinBackend, assets: PageAssets, limits: JoinRateLimits) -> None:
        self._backend = backend
        self._assets = assets
        self._trust_forwarded_for = limits.trust_forwarded_for

        def limiter(rate: Rate) -> RateLimiter:
            return RateLimiter(rate, max_addresses=limits.max_addresses)

        self._page_limiter = limiter(limits.page)
        self._credentials_limiter = limiter(limits.credentials)
        self._ended_limiter = limiter(limits.ended)
        self._picture_limiter = limiter(limits.picture)

    async def page(self, request: web.Request) -> web.Response:
        if (wait := self._wait(request, self._page_limiter)) > 0:
            return self._notice(
                429,
                "too_many",
                "Too many requests",
                f"This page was opened too often from your network. Wait {_seconds(wait)}, "
                "then reload it.",
                hint="Your link has not been used; it still works.",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        started = time.monotonic()
        code = request.match_info["code"]
        try:
            state, view = (
                await self._backend.view(code)
                if _CODE.fullmatch(code)
                else (JoinState.UNKNOWN, None)
            )
        except Exception as error:
            error_id = _log_failure("page", code, error)
            return self._notice(
                500,
                "error",
                "Something went wrong",
                f"The bot could not look this link up (error id {error_id}). Reload in a moment; "
                "if it keeps happening, tell the bot's admin this id.",
            )
        if state not in (JoinState.OK, JoinState.IN_USE) or view is None:
            await _pad(started)
            refusal = _REFUSALS.get(state, _INVALID)
            return self._notice(refusal.status, refusal.state, refusal.title, refusal.message)
        if self._assets.livekit is None:
            return self._notice(
                503,
                "assets_missing",
                "Calls can't start here yet",
                f"This link is for a call with {view.avatar_name}, but this bot's web assets "
                "(the livekit-client library) are not installed, so the page cannot join calls.",
                hint="Your link has not been used. Tell the bot's admin to run `npm ci` in the "
                "bot's folder (`make run` does it), then reload this page.",
            )
        body = self._assets.render(
            "join",
            {
                "avatar_name": view.avatar_name,
                "max_seconds": view.max_seconds,
                "limit_text": _limit_text(view.max_seconds),
                "expires_text": _expiry_text(view.expires_at),
                "picture_url": f"/join/{code}/picture" if view.has_picture else "",
                "initial": _initial(view.avatar_name),
                "in_use": "true" if state is JoinState.IN_USE else "false",
                "credentials_url": f"/join/{code}/credentials",
                "ended_url": f"/join/{code}/ended",
                "js_url": self._assets.static_url("join.js"),
                "vendor_url": self._assets.livekit.url,
            },
        )
        return web.Response(text=body, content_type="text/html")

    async def credentials(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request, self._credentials_limiter)) is not None:
            return refused
        started = time.monotonic()
        code = request.match_info["code"]
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        secret = payload.get("secret") if isinstance(payload, dict) else None
        try:
            state, credentials = (
                await self._backend.redeem(code, secret if isinstance(secret, str) else None)
                if _CODE.fullmatch(code)
                else (JoinState.UNKNOWN, None)
            )
        except Exception as error:
            error_id = _log_failure("credentials", code, error)
            return _json_error(
                500,
                "error",
                f"The bot could not start the call (error id {error_id}). Press Try again in a "
                "moment; if it keeps failing, tell the bot's admin this id.",
            )
        if state is JoinState.OK and credentials is not None:
            return web.json_response(
                {
                    "url": credentials.url,
                    "token": credentials.token,
                    "roomName": credentials.room_name,
                    "endsAt": credentials.ends_at,
                    "maxSeconds": credentials.max_seconds,
                    "avatarName": credentials.avatar_name,
                    # The page counts down from endsAt - serverNow on its own clock, so a
                    # phone whose clock is off still shows the right time left.
                    "serverNow": time.time(),
                }
            )
        if state is JoinState.WARMING:
            return _json_error(202, "warming", "The call is still getting ready; a moment…")
        await _pad(started)
        if state is JoinState.USED:
            return _json_error(404, "used_elsewhere", _USED_ELSEWHERE)
        refusal = _REFUSALS.get(state, _INVALID)
        return _json_error(refusal.status, refusal.state, refusal.message)

    async def ended(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request, self._ended_limiter)) is not None:
            return refused
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        reason = payload.get("reason") if isinstance(payload, dict) else None
        if reason not in END_REASONS:
            return _json_error(400, "bad_request", f"reason must be one of {sorted(END_REASONS)}")
        code = request.match_info["code"]
        if _CODE.fullmatch(code):
            try:
                await self._backend.ended(code, reason)
            except Exception as error:
                error_id = _log_failure("ended", code, error)
                return _json_error(500, "error", f"error id {error_id}")
        return web.Response(status=204)

    async def picture(self, request: web.Request) -> web.Response:
        """The avatar's picture beside its name; for an unusable link, the same 404 as for a
        link never issued, after the same delay, so no one learns whose link it was."""
        if (wait := self._wait(request, self._picture_limiter)) > 0:
            raise web.HTTPTooManyRequests(headers={"Retry-After": str(math.ceil(wait))})
        started = time.monotonic()
        code = request.match_info["code"]
        try:
            state, picture = (
                await self._backend.picture(code)
                if _CODE.fullmatch(code)
                else (JoinState.UNKNOWN, None)
            )
        except Exception as error:
            _log_failure("picture", code, error)
            raise web.HTTPInternalServerError() from None
        if state is not JoinState.OK:
            await _pad(started)
        if picture is None:
            raise web.HTTPNotFound()
        return web.Response(body=picture.data, content_type=picture.content_type)

    async def static(self, request: web.Request) -> web.Response:
        asset = self._assets.static.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound()
        return asset.respond(request)

    async def vendor(self, request: web.Request) -> web.Response:
        if self._assets.livekit is None:
            raise web.HTTPNotFound(text="livekit-client is not installed on this bot")
        return self._assets.livekit.asset.respond(request)

    def _wait(self, request: web.Request, limiter: RateLimiter) -> float:
        address = client_address(request, trust_forwarded_for=self._trust_forwarded_for)
        return limiter.acquire(address)

    def _guard(self, request: web.Request, limiter: RateLimiter) -> web.Response | None:
        """Refuse a JSON route's request when it is over the rate or not from the page."""
        if (wait := self._wait(request, limiter)) > 0:
            response = _json_error(
                429,
                "rate_limited",
                f"Too many tries from your network. Wait {_seconds(wait)}, then press Try again.",
            )
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        site = request.headers.get("Sec-Fetch-Site")
        if request.headers.get("X-Join") != "1" or site not in (None, "same-origin"):
            return _json_error(403, "forbidden", "Only the join page itself may ask this.")
        return None

    def _notice(
        self,
        status: int,
        state: str,
        title: str,
        message: str,
        *,
        hint: str = _AGAIN,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        body = self._assets.render(
            "notice", {"state": state, "title": title, "message": message, "hint": hint}
        )
        response = web.Response(status=status, text=body, content_type="text/html", headers=headers)
        record_outcome(response, state)
        return response


def _json_error(status: int, state: str, message: str) -> web.Response:
    response = web.json_response({"state": state, "message": message}, status=status)
    record_outcome(response, state)
    return response


async def _pad(started: float) -> None:
    await asyncio.sleep(max(0.0, REFUSAL_FLOOR_SECONDS - (time.monotonic() - started)))


def _log_failure(route: str, code: str, error: Exception) -> str:
    """Log an unexpected backend failure with an id the person can quote, code blanked out."""
    error_id = secrets.token_hex(4)
    details = "".join(traceback.format_exception(error)).replace(code, "<code>")
    log.error("join %s failed (error id %s)\n%s", route, error_id, details.rstrip())
    return error_id


def _initial(name: str) -> str:
    """The first letter of the avatar's name, shown where it has no picture."""
    return next((char.upper() for char in name if char.isalnum()), "?")


def _seconds(seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    return "1 second" if whole == 1 else f"{whole} seconds"


def _duration(seconds: int) -> str:
    minutes, rest = divmod(max(0, seconds), 60)
    if not minutes:
        return _seconds(rest)
    if rest:
        return f"{minutes} min {rest} s"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _limit_text(max_seconds: int) -> str:
    if max_seconds > RUNWAY_CAP_SECONDS:
        return f"{_duration(max_seconds)} (Runway may end calls at about 5 minutes)"
    return _duration(max_seconds)


def _expiry_text(expires_at: int) -> str:
    left = expires_at - int(time.time())
    if left < 60:
        return "Works once, for less than a minute more"
    return f"Works once, for about {_duration(left - left % 60)} more"
