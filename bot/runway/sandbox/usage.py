"""Usage totals as `GET /v1/avatar_usage` reports them, from completed calls only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from bot.runway.sandbox.inputs import UsageQuery


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    sessions: int
    seconds: int


@dataclass(frozen=True, slots=True)
class Usage:
    total_seconds: int
    total_sessions: int
    avg_duration_seconds: int
    by_day: list[DayUsage]


def summarise(calls: Iterable[tuple[datetime, int]], query: UsageQuery) -> Usage:
    """Totals of the calls that began in [start, end), by UTC day.

    Only days with at least one call are listed; failed and cancelled sessions cost
    nothing and are left out, as Runway does not bill them.
    """
    days: dict[date, list[int]] = defaultdict(list)
    for began, seconds in calls:
        if query.start <= began < query.end:
            days[began.date()].append(seconds)
    by_day = [DayUsage(day, len(days[day]), sum(days[day])) for day in sorted(days)]
    total_seconds = sum(d.seconds for d in by_day)
    total_sessions = sum(d.sessions for d in by_day)
    return Usage(
        total_seconds=total_seconds,
        total_sessions=total_sessions,
        avg_duration_seconds=round(total_seconds / total_sessions) if total_sessions else 0,
        by_day=by_day,
    )
