"""The bot's own books across every guild, for reconciling them with Runway's usage figures.

Runway bills the account, not a guild, so only account-wide totals can be compared with it.
Ended sessions are read per UTC hour from the account rollup; the parts of the period that do
not fill a whole hour (a local midnight at :30, "until now") from a covering index of ended
sessions by start, and live sessions from the live index: a year costs 8,760 rollup rows, not
a million sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.settings import Dialect
from bot.storage.admission import Period
from bot.storage.database import Database
from bot.storage.hot import hot
from bot.storage.transaction import ReadTx

HOUR: Final = 3_600


@dataclass(frozen=True, slots=True)
class AccountTotals:
    joined_sessions: int  # sessions someone joined: what Runway counts as conversations
    settled_seconds: int
    live_sessions: int  # not settled yet: their seconds are still unknown


class BooksRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def account_totals(self, period: Period, dialect: Dialect) -> AccountTotals:
        """Sessions of every guild started in `period` through `dialect`'s API."""
        return await self._db.read(lambda tx: _account_totals(tx, period, dialect))


def _account_totals(tx: ReadTx, period: Period, dialect: Dialect) -> AccountTotals:
    first_hour = -(-period.start // HOUR) * HOUR
    last_hour = max(first_hour, period.end // HOUR * HOUR)
    joined = seconds = 0
    if first_hour < last_hour:
        row = tx.fetch_one(
            _HOURS, {"dialect": dialect.value, "start": first_hour, "end": last_hour}
        )
        assert row is not None, "an aggregate always returns a row"
        joined, seconds = row[0], row[1]
    edges = (
        [Period(period.start, period.end)]
        if first_hour >= period.end
        else [Period(period.start, first_hour), Period(last_hour, period.end)]
    )
    for edge in edges:
        if edge.start >= edge.end:
            continue
        row = tx.fetch_one(
            _ENDED_BETWEEN, {"dialect": dialect.value, "start": edge.start, "end": edge.end}
        )
        assert row is not None, "an aggregate always returns a row"
        joined, seconds = joined + row[0], seconds + row[1]
    live = tx.fetch_one(_LIVE, {"dialect": dialect.value, "start": period.start, "end": period.end})
    assert live is not None, "an aggregate always returns a row"
    return AccountTotals(
        joined_sessions=joined + live[1], settled_seconds=seconds, live_sessions=live[0]
    )


_HOURS = hot(
    "reconciliation: the account's whole hours",
    """
    SELECT coalesce(sum(joined), 0), coalesce(sum(seconds), 0) FROM rollup_account_hours
    WHERE dialect = :dialect AND hour_start >= :start AND hour_start < :end
    """,
    reads={"rollup_account_hours.pk": "hour_start>"},
)

_ENDED_BETWEEN = hot(
    "reconciliation: the account's ended sessions in part of an hour",
    """
    SELECT count(consumed_at), coalesce(sum(used_seconds), 0) FROM sessions
    WHERE state IN ('SETTLED', 'RELEASED') AND created_at >= :start AND created_at < :end
      AND dialect = :dialect
    """,
    reads={"sessions_ended_started": "created_at>"},
)

_LIVE = hot(
    "reconciliation: the account's live sessions",
    """
    SELECT count(*), count(consumed_at) FROM sessions
    WHERE state IN ('RESERVED', 'OPEN') AND created_at >= :start AND created_at < :end
      AND dialect = :dialect
    """,
    reads={"sessions_open": None, "sessions_live": None},
)
