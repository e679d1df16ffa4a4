"""Days and months in a server's timezone, as the unix-second ranges quotas, reports and rollups
count in.

A local day runs from one local midnight to the next, so it lasts 23 or 25 hours when the clocks
change (other lengths in a few zones). Where midnight does not exist (clocks jump from 23:59 to
01:00) the day starts at the jump; where it happens twice, at the first. The periods of
consecutive days and months therefore tile time without gaps or overlaps, and the period
returned for an instant always contains it, even in the hour a zone repeats around midnight.

The rollups are keyed by the start of the local day (and month) a session started in. The
database computes those keys with `local_day_start(timezone, moment)` and
`local_month_start(timezone, moment)`: SQLite calls the functions below (registered on every
connection by `bot.storage.sqlite.functions`); PostgreSQL has the same rules written in
PL/pgSQL (`migrations/postgres/0005_rollups.sql`), and `tests/storage/test_calendar.py`
checks over many zones and instants that both give exactly these answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.storage.admission import Period

log = logging.getLogger(__name__)

UTC_ZONE = ZoneInfo("UTC")


@lru_cache(maxsize=512)
def zone_or_utc(name: str) -> ZoneInfo:
    """The zone a server stored (always a canonical IANA name), or UTC for a name this tz
    database does not know (set before the zone was renamed or removed): days then count in
    UTC rather than failing."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone %r, counting days in UTC", name)  # once: cached
        return UTC_ZONE


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
        first = previous_month(first)
    elif midnight(next_month(first), tz) <= moment:
        first = next_month(first)
    return Period(midnight(first, tz), midnight(next_month(first), tz))


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def previous_month(first: date) -> date:
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


class PeriodCache:
    """Where the local day (or month) of a moment starts, by zone name: `local_day_start` /
    `local_month_start` for SQL. A bulk statement (a migration, a timezone change) asks for
    hundreds of thousands of moments, in no useful order, of a few zones: the periods found
    are kept by zone and UTC day, so each local day or month is computed once, not once per
    session."""

    LIMIT = 100_000  # entries; a bot's connection meets a few per zone and day

    def __init__(self, compute: Callable[[int, ZoneInfo], Period]) -> None:
        self._compute = compute
        self._found: dict[tuple[str, int], list[Period]] = {}

    def __call__(self, name: str, moment: int) -> int:
        for period in self._found.get((name, moment // _DAY), ()):
            if period.start <= moment < period.end:
                return period.start
        if len(self._found) > self.LIMIT:
            self._found.clear()
        period = self._compute(moment, zone_or_utc(name))
        for day in range(period.start // _DAY, (period.end - 1) // _DAY + 1):
            self._found.setdefault((name, day), []).append(period)
        return period.start


_DAY = 86_400
