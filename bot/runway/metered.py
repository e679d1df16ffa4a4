"""Each request to Runway, counted and timed by route template and status.

The client calls `observe` once per attempt (a retry is a request of its own, as Runway sees
it). Paths become templates before they become labels: Runway's API is
`/v1/<collection>[/<id>[/<action>]]`, so the segment after a collection is an id whatever
the endpoint, and a label never carries one, which would make a new series per object.
"""

from __future__ import annotations

import re
from typing import Final

from bot.telemetry.metrics import RUNWAY_REQUESTS

NO_ANSWER: Final = "error"
"""The status label of an attempt that got no HTTP answer (refused, timed out, cut off)."""
OTHER_ROUTE: Final = "other"

_WORD = re.compile(r"[a-z][a-z_]*")
_VERSION = re.compile(r"v\d+")


def route_template(path: str) -> str:
    """`/v1/realtime_sessions/3f2a.../consume` as `/v1/realtime_sessions/{id}/consume`;
    anything not shaped like Runway's API as `other`."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if not 2 <= len(parts) <= 4 or not _VERSION.fullmatch(parts[0]):
        return OTHER_ROUTE
    if not _WORD.fullmatch(parts[1]) or (len(parts) == 4 and not _WORD.fullmatch(parts[3])):
        return OTHER_ROUTE
    if len(parts) >= 3:
        parts[2] = "{id}"
    return "/" + "/".join(parts)


def observe(method: str, path: str, status: int | None, seconds: float) -> None:
    """Record one attempt; `status` None when no answer came."""
    RUNWAY_REQUESTS.labels(
        method=method,
        route=route_template(path),
        status=NO_ANSWER if status is None else str(status),
    ).observe(seconds)
