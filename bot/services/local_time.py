"""Days and months in a server's timezone, as the unix-second ranges quotas and reports count in.

A local day runs from one local midnight to the next, so it lasts 23 or 25 hours when the clocks
change (other lengths in a few zones). Where midnight does not exist (clocks jump from 23:59 to
01:00) the day starts at the jump; where it happens twice, at the first. The periods of
consecutive days and months therefore tile time without gaps or overlaps, and the period
returned for an instant always contains it, even in the hour a zone repeats around midnight.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from bot.services.durations import duration_text
from bot.storage import Period

UTC_ZONE = ZoneInfo("UTC")


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


def local_date(moment: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(moment, tz).date()


def midnight(day: date, tz: ZoneInfo) -> int:
    """When `day` begins in `tz`, as unix seconds (see the module note for the odd cases)."""
    return int(datetime.combine(day, time(0), tzinfo=tz).timestamp())


def day_period(moment: int, tz: ZoneInfo) -> Period:
    """The local day that contains `moment`."""
    day = local_date(moment, tz)
    if midnight(day, tz) > moment:
        day -= timedelta(days=1)
    elif midnight(day + timedelta(days=1), tz) <= moment:
        day += timedelta(days=1)
    return Period(midnight(day, tz), midnight(day + timedelta(days=1), tz))


def month_period(moment: int, tz: ZoneInfo) -> Period:
    """The local calendar month that contains `moment`."""
    first = local_date(moment, tz).replace(day=1)
    if midnight(first, tz) > moment:
        first = _previous_month(first)
    elif midnight(_next_month(first), tz) <= moment:
        first = _next_month(first)
    return Period(midnight(first, tz), midnight(_next_month(first), tz))


@lru_cache(maxsize=1024)
def calendar(moment: int, tz: ZoneInfo) -> tuple[Period, Period]:
    """The local day and month containing `moment`. Cached: a session start asks for them
    several times within the same second (fitting, the query, the decision)."""
    return day_period(moment, tz), month_period(moment, tz)


def previous_month_period(moment: int, tz: ZoneInfo) -> Period:
    current = month_period(moment, tz)
    return month_period(current.start - 1, tz)


def day_starts(period: Period, tz: ZoneInfo) -> list[int]:
    """The local midnights that split `period` into days, with its start and end as the outer
    boundaries (a report's buckets: consecutive pairs are the days)."""
    starts = [period.start]
    day = local_date(period.start, tz) + timedelta(days=1)
    while (boundary := midnight(day, tz)) < period.end:
        if boundary > starts[-1]:
            starts.append(boundary)
        day += timedelta(days=1)
    starts.append(period.end)
    return starts


def utc_datetime(moment: int) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def until_text(moment: int | None, tz: ZoneInfo, now: int) -> str:
    """`in 3 h 12 min (at 00:00 Europe/Paris)`, or `later` when it cannot be known."""
    if moment is None:
        return "later"
    local = utc_datetime(moment).astimezone(tz)
    clock = local.strftime("%H:%M") if moment - now < 86_400 else local.strftime("%d %b %H:%M")
    return f"in {duration_text(max(1, moment - now))} (at {clock} {tz.key})"


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _previous_month(first: date) -> date:
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
