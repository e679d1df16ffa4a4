"""The bot's own books across every guild, for reconciling them with Runway's usage figures.

Runway bills the account, not a guild, so only account-wide totals can be compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Dialect
from bot.storage.admission import Period
from bot.storage.database import Database


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
        row = await self._db.fetch_one(
            """
            SELECT count(*) FILTER (WHERE consumed_at IS NOT NULL),
                   coalesce(sum(used_seconds) FILTER (WHERE state = 'SETTLED'), 0),
                   count(*) FILTER (WHERE state IN ('RESERVED', 'OPEN'))
            FROM sessions WHERE created_at >= ? AND created_at < ? AND dialect = ?
            """,
            (period.start, period.end, dialect.value),
        )
        assert row is not None, "an aggregate always returns a row"
        return AccountTotals(*row)
