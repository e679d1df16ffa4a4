"""When a failed request to Runway may be sent again, and how long to wait first.

Runway bills sessions and avatars as they are created, so the rule for requests that
create something is strict: retry only when the request certainly never took effect.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE"})

# Answers that mean "not processed, ask again later" for any method.
REFUSED_STATUSES = frozenset({429, 503})
# Answers where a read may safely be repeated.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

# Failures where the request cannot have reached Runway's application.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    """A Retry-After longer than this is not waited out: the caller is told instead."""

    def backoff(self, attempt: int) -> float:
        """Full jitter exponential backoff (AWS architecture blog's recommendation),
        so many bots retrying at once do not stampede."""
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        return random.uniform(0, ceiling)

    def may_retry_status(self, method: str, status: int) -> bool:
        if method in IDEMPOTENT_METHODS:
            return status in TRANSIENT_STATUSES
        return status in REFUSED_STATUSES

    def may_retry_error(self, method: str, error: httpx.TransportError) -> bool:
        if method in IDEMPOTENT_METHODS:
            return True
        return isinstance(error, NOT_SENT_ERRORS)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Parse Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
