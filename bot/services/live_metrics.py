"""The database's live state as gauges, read when Prometheus scrapes.

Every process that serves metrics reports the same database, so in a cluster these gauges
are equal across processes: aggregate them with `max`, not `sum` (the dashboard does).

`runway_characters_tracker_overdue_seconds` is the settling lag: how long the most overdue
live session has been waiting past the moment the tracker should have dealt with it (a
reservation whose start never finished, a link nobody used, a call past its maximum). A
healthy tracker keeps it within a few poll intervals; a growing value means no process is
settling (no leader, or Runway unreachable) and servers are being charged reservations.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from bot.services.tracker import (
    ORPHAN_RESERVATION_SECONDS,
    OVERRUN_GRACE_SECONDS,
    READY_TIMEOUT_SECONDS,
)
from bot.storage import Clock, unix_now
from bot.storage.live_stats import Deadlines, LiveStatsRepository, StateCount
from bot.telemetry.metrics import INTENTS_UNRESOLVED, LIVE_SESSIONS, TRACKER_OVERDUE

SESSION_STATES = ("RESERVED", "OPEN")
INTENT_STATES = ("PENDING", "UNSURE")


class LiveMetrics:
    """A scrape source (`bot.telemetry.exposition`) over `LiveStatsRepository`."""

    def __init__(
        self, stats: LiveStatsRepository, *, create_seconds: float, clock: Clock = unix_now
    ) -> None:
        self._stats = stats
        self._clock = clock
        # A start holds its reservation while Runway answers the create (up to the create
        # timeout), and reconciliation may take the tracker's orphan timeout on top.
        self._deadlines = Deadlines(
            reservation=int(create_seconds) + ORPHAN_RESERVATION_SECONDS,
            unjoined=READY_TIMEOUT_SECONDS,
            overrun=OVERRUN_GRACE_SECONDS,
        )

    async def __call__(self) -> Iterable[Metric]:
        stats = await self._stats.read(self._deadlines)
        now = self._clock()
        live = GaugeMetricFamily(
            LIVE_SESSIONS,
            "Live sessions in the database by state: reserved (Runway not asked yet) or open.",
            labels=["state"],
        )
        intents = GaugeMetricFamily(
            INTENTS_UNRESOLVED,
            "Billable Runway calls whose outcome is not known yet, by state: pending (in "
            "flight) or unsure (answer lost, being looked for).",
            labels=["state"],
        )
        for family, states, found in (
            (live, SESSION_STATES, stats.sessions),
            (intents, INTENT_STATES, stats.intents),
        ):
            for state in states:
                family.add_metric([state.lower()], found.get(state, _NONE).count)
        dues = [count.earliest_due for count in stats.sessions.values() if count.earliest_due]
        overdue = GaugeMetricFamily(
            TRACKER_OVERDUE,
            "How long the most overdue live session has waited past when the tracker should "
            "have settled it (0: none is overdue).",
            value=max(0, now - min(dues)) if dues else 0,
        )
        return [live, intents, overdue]


_NONE = StateCount(0, None)
