"""PostgreSQL's calendar functions give exactly the answers of Python's (bot.storage.local_days,
which SQLite's connections call): the local day and month that contain an instant, in every
zone the time zone database knows, at and around each change of offset (23- and 25-hour
days, changes at midnight so that midnight is skipped or repeated, half-hour and 45-minute
offsets, a skipped calendar day), around local midnights and month starts, and at random
instants from 1970 to 2040. An unknown zone counts in UTC on both."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

import psycopg

from bot.storage.local_days import day_period, month_period, zone_or_utc
from tests.support.postgres import PostgresServer

# Zones whose changes are the hard cases; every one of their changes is checked.
HARD = (
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute change
    "Asia/Kathmandu",  # +05:45
    "Asia/Kolkata",  # +05:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Havana",  # changes at midnight
    "America/Santiago",  # changes at midnight
    "Asia/Beirut",  # changes at midnight
    "America/Asuncion",
    "Asia/Tehran",  # changed at midnight until 2022
    "America/Sao_Paulo",  # changed at midnight until 2019
    "Pacific/Apia",  # skipped 30 December 2011
    "Africa/Casablanca",
)
FIRST = int(datetime(1970, 1, 1, tzinfo=UTC).timestamp())
LAST = int(datetime(2040, 1, 1, tzinfo=UTC).timestamp())
MONTH = 30 * 86_400


def changes(tz: ZoneInfo) -> list[int]:
    """Every instant in 1970-2040 at which the zone's offset changes (to the second)."""
    found = []

    def offset(moment: int) -> object:
        return datetime.fromtimestamp(moment, tz).utcoffset()

    previous = FIRST
    for moment in range(FIRST + MONTH // 2, LAST, MONTH // 2):
        if offset(moment) != offset(previous):
            low, high = previous, moment
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
            found.append(high)
        previous = moment
    return found


def instants(tz: ZoneInfo, rng: random.Random, every: bool) -> set[int]:
    """The moments worth checking in `tz`: around its changes and the days and months
    around them, and a few random ones."""
    moments = {rng.randrange(FIRST, LAST) for _ in range(5)}
    found = changes(tz)
    for change in found if every else rng.sample(found, min(6, len(found))):
        day, month = day_period(change, tz), month_period(change, tz)
        for edge in (change, day.start, day.end, month.start, month.end):
            moments |= {edge - 1, edge, edge + 1}
        moments |= {change - 3_600, change + 3_600}
    return moments


def test_postgres_counts_local_days_and_months_as_python_does(
    postgres_server: PostgresServer,
) -> None:
    rng = random.Random(11)
    zones = sorted(available_timezones() | {"Not/A_Zone"})
    cases: list[tuple[str, int]] = []
    for name in zones:
        tz = zone_or_utc(name)
        cases += [(name, moment) for moment in sorted(instants(tz, rng, name in HARD))]
    with psycopg.connect(postgres_server.url("bot_template")) as conn:
        rows = conn.execute(
            "SELECT zone, moment, local_day_start(zone, moment), local_month_start(zone, moment)"
            " FROM unnest(%s::text[], %s::bigint[]) AS c(zone, moment)",
            ([zone for zone, _ in cases], [moment for _, moment in cases]),
        ).fetchall()
    wrong = []
    for zone, moment, day, month in rows:
        tz = zone_or_utc(zone)
        expected = (day_period(moment, tz).start, month_period(moment, tz).start)
        if (day, month) != expected:
            wrong.append(f"{zone} at {moment}: {(day, month)}, Python says {expected}")
    assert len(rows) == len(cases) > 20_000
    zones_wrong = sorted({w.split(" ")[0] for w in wrong})
    assert not wrong, f"{len(wrong)} of {len(rows)} differ in {zones_wrong}:\n" + "\n".join(
        wrong[:20]
    )
