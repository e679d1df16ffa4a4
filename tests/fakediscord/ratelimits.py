"""Discord's rate-limit headers on every reply, and 429s a test can ask for.

discord.py reads `X-RateLimit-*` on each response to pace itself and retries a 429 after
`retry_after` (only when the reply looks like it came from Discord, i.e. has a `Via`
header). Emitting the headers keeps that code path live in tests; an injected 429 lets a
test prove the bot survives one without a second, duplicate side effect.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakediscord.replies import json_reply

SCOPES = ("user", "global", "shared")


@dataclass
class Injection:
    """A 429 to answer the next `times` requests on one route with."""

    method: str
    template: str
    retry_after: float
    scope: str
    is_global: bool
    times: int
    hits: int = 0


@dataclass
class _Window:
    started: float
    count: int = 0


@dataclass
class RateLimits:
    """A fixed window per route and major parameter, generous enough to stay out of the way."""

    limit: int = 50
    window: float = 1.0
    _windows: dict[str, _Window] = field(default_factory=dict)
    _injections: list[Injection] = field(default_factory=list)

    def inject(
        self,
        method: str,
        template: str,
        *,
        retry_after: float = 1.0,
        scope: str = "user",
        is_global: bool = False,
        times: int = 1,
    ) -> Injection:
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        injection = Injection(method.upper(), template, retry_after, scope, is_global, times)
        self._injections.append(injection)
        return injection

    def take_injection(self, method: str, template: str) -> Injection | None:
        for injection in self._injections:
            if injection.method == method and injection.template == template:
                injection.hits += 1
                if injection.hits >= injection.times:
                    self._injections.remove(injection)
                return injection
        return None

    def headers(self, method: str, template: str, major: str) -> dict[str, str]:
        """Count one request and describe its bucket the way Discord does."""
        key = f"{method} {template}"
        now = time.time()
        window = self._windows.get(f"{key}:{major}")
        if window is None or now - window.started >= self.window:
            window = _Window(started=now)
            self._windows[f"{key}:{major}"] = window
        window.count += 1
        reset_after = max(0.0, self.window - (now - window.started))
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - window.count)),
            "X-RateLimit-Reset": f"{window.started + self.window:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash(key),
        }


def bucket_hash(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def too_many_requests(injection: Injection, bucket_headers: dict[str, str]) -> web.Response:
    """A 429 shaped like Discord's: JSON body, `Retry-After`, and the scope header."""
    headers = {
        **bucket_headers,
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": f"{injection.retry_after:.3f}",
        "Retry-After": str(math.ceil(injection.retry_after)),
        "X-RateLimit-Scope": injection.scope,
    }
    if injection.is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": injection.retry_after,
        "global": injection.is_global,
    }
    return json_reply(body, status=429, headers=headers)
