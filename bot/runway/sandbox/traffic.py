"""Counts of requests per route, so tests can tell "sent" from "acted on"."""

from __future__ import annotations

from collections import Counter


class Traffic:
    """How many requests reached each route, and how many its real handler answered with success.

    The difference is what matters for billing: a client that times out and retries a
    POST shows two arrivals, but must show only one creation.
    """

    def __init__(self) -> None:
        self._arrived: Counter[tuple[str, str]] = Counter()
        self._handled: Counter[tuple[str, str]] = Counter()

    def arrived(self, method: str, route: str) -> None:
        self._arrived[method.upper(), route] += 1

    def succeeded(self, method: str, route: str) -> None:
        self._handled[method.upper(), route] += 1

    def requests(self, method: str, route: str) -> int:
        return self._arrived[method.upper(), route]

    def handled(self, method: str, route: str) -> int:
        return self._handled[method.upper(), route]

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Both counters keyed `"METHOD /route"`, for the HTTP control surface."""
        return {
            "requests": {f"{m} {r}": n for (m, r), n in sorted(self._arrived.items())},
            "handled": {f"{m} {r}": n for (m, r), n in sorted(self._handled.items())},
        }

    def clear(self) -> None:
        self._arrived.clear()
        self._handled.clear()
