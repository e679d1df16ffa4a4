"""What is live right now, for the metrics a scrape reads: cheap at any size of history.

Both queries read only live rows through the partial indexes made for them (`sessions_open`,
`runway_intents_open`), so a scrape every 15 s costs the same with a thousand or a million
ended sessions. Plain SQL, the same on every engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.database import Database
from bot.storage.hot import hot


@dataclass(frozen=True, slots=True)
class StateCount:
    """Rows in one state, and the earliest moment one of them is due to be dealt with."""

    count: int
    earliest_due: int | None


@dataclass(frozen=True, slots=True)
class Deadlines:
    """When a live session is due to be settled by the tracker, in seconds after an event."""

    reservation: int  # after its creation: a start never takes this long
    unjoined: int  # after its creation: a link nobody used is cancelled
    overrun: int  # after its maximum, counted from the join: Runway should have ended it


@dataclass(frozen=True, slots=True)
class LiveStats:
    sessions: dict[str, StateCount]  # by state: RESERVED, OPEN
    intents: dict[str, StateCount]  # by state: PENDING, UNSURE; due: when created


class LiveStatsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def read(self, deadlines: Deadlines) -> LiveStats:
        sessions = await self._db.fetch_all(
            _SESSIONS,
            {
                "reservation": deadlines.reservation,
                "unjoined": deadlines.unjoined,
                "overrun": deadlines.overrun,
            },
        )
        intents = await self._db.fetch_all(_INTENTS)
        return LiveStats(
            sessions={row["state"]: StateCount(row["live"], row["due"]) for row in sessions},
            intents={row["state"]: StateCount(row["live"], row["due"]) for row in intents},
        )


_SESSIONS = hot(
    "metrics: live sessions by state, and the earliest due to be settled",
    """
    SELECT state, count(*) AS live, min(
        CASE WHEN state = 'RESERVED' THEN created_at + :reservation
             WHEN consumed_at IS NULL THEN created_at + :unjoined
             ELSE consumed_at + max_seconds + :overrun END) AS due
    FROM sessions WHERE state IN ('RESERVED', 'OPEN') GROUP BY state
    """,
    reads={"sessions_open": None},
)

_INTENTS = hot(
    "metrics: unresolved intents by state",
    """
    SELECT state, count(*) AS live, min(created_at) AS due
    FROM runway_intents WHERE state IN ('PENDING', 'UNSURE') GROUP BY state
    """,
    reads={"runway_intents_open": None},
)
