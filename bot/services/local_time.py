"""Days and months in a server's timezone, for the services: zone names as members type them,
the periods quotas and reports count in, and how to say when something happens.

The calendar rules themselves (what a local day is around DST changes) live in
`bot.storage.local_days`, because the rollups are keyed by them; this module builds on them.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from bot.services.durations import duration_text
from bot.storage import Period
from bot.storage.local_days import (
    UTC_ZONE,
    day_period,
    local_date,
    midnight,
    month_period,
    zone_or_utc,
)

__all__ = [
    "UTC_ZONE",
    "calendar",
    "day_dates",
    "day_period",
    "day_starts",
    "local_date",
    "midnight",
    "month_period",
    "previous_month_period",
    "until_text",
    "utc_datetime",
    "zone",
    "zone_names",
    "zone_or_utc",
]


def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name` (any letter case); raises ValueError if there is none."""
    exact = _zone_names_folded().get(name.strip().casefold())
    if exact is None:
        raise ValueError(f"unknown timezone {name!r}")
    return ZoneInfo(exact)


def zone_names(text: str, *, limit: int = 25) -> list[str]:
    """Zone names containing `text` (case-insensitive), those starting with it first."""
    needle = text.strip().casefold().replace(" ", "_")
    names = sorted(_zone_names_folded().values())
    matches = [name for name in names if needle in name.casefold()]
    matches.sort(key=lambda name: (not name.casefold().startswith(needle), name))
    return matches[:limit]


@cache
def _zone_names_folded() -> dict[str, str]:
    """Every zone the tz database knows (read once: it lists a directory tree)."""
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


@lru_cache(maxsize=1024)
def calendar(moment: int, tz: ZoneInfo) -> tuple[Period, Period]:
    """The local day and month containing `moment`. Cached: a session start asks for them
    several times within the same second (fitting, the query, the decision)."""
    return day_period(moment, tz), month_period(moment, tz)


def previous_month_period(moment: int, tz: ZoneInfo) -> Period:
    current = month_period(moment, tz)
    return month_period(current.start - 1, tz)


@lru_cache(maxsize=256)
def day_starts(period: Period, tz: ZoneInfo) -> tuple[int, ...]:
    """The local midnights that split `period` into days, with its start and end as the outer
    boundaries (a report's buckets: consecutive pairs are the days). Cached: a year's report
    asks for 366 of them, a millisecond of the event loop each time otherwise."""
    starts = [period.start]
    day = local_date(period.start, tz) + timedelta(days=1)
    while (boundary := midnight(day, tz)) < period.end:
        if boundary > starts[-1]:
            starts.append(boundary)
        day += timedelta(days=1)
    starts.append(period.end)
    return tuple(starts)


@lru_cache(maxsize=256)
def day_dates(period: Period, tz: ZoneInfo) -> tuple[date, ...]:
    """The local date of each day of `period` (those `day_starts` splits it into)."""
    return tuple(local_date(start, tz) for start in day_starts(period, tz)[:-1])


def utc_datetime(moment: int) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def until_text(moment: int | None, tz: ZoneInfo, now: int) -> str:
    """`in 3 h 12 min (at 00:00 Europe/Paris)`, or `later` when it cannot be known."""
    if moment is None:
        return "later"
    local = utc_datetime(moment).astimezone(tz)
    clock = local.strftime("%H:%M") if moment - now < 86_400 else local.strftime("%d %b %H:%M")
    return f"in {duration_text(max(1, moment - now))} (at {clock} {tz.key})"
