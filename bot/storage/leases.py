"""Leases: the work only one process may do at a time goes to the holder of a row.

Taking and renewing are one statement: an upsert that changes the row only when this process
already holds it or it has expired, and returns it only then. On PostgreSQL the conflicting
insert locks the row and re-reads it before deciding, so two processes racing for a free
lease never both win; on SQLite writers are serialised anyway. Expiry is reckoned on each
process's own clock (whole seconds): leases last long enough (tens of seconds) for the
clocks of one cluster to agree on them.
"""

from __future__ import annotations

from bot.storage.common import Clock, SqlValue, unix_now
from bot.storage.database import Database
from bot.storage.transaction import WriteTx
from bot.storage.wakeups import Channel

_TAKE = """
INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :until)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= :now
RETURNING holder
"""


class LeaseRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def take(self, name: str, holder: int, seconds: int) -> bool:
        """Take lease `name` for `seconds`, or renew it; False while another holds it."""
        now = self._clock()
        params: dict[str, SqlValue] = {
            "name": name, "holder": holder, "until": now + seconds, "now": now,
        }  # fmt: skip
        return await self._db.write(lambda tx: tx.fetch_one(_TAKE, params) is not None)

    async def give_up(self, name: str, holder: int) -> bool:
        """Let lease `name` go at once (shutting down), so another process takes it now."""

        def body(tx: WriteTx) -> bool:
            let_go = tx.execute(
                "DELETE FROM leases WHERE name = :name AND holder = :holder",
                {"name": name, "holder": holder},
            )
            tx.notify(Channel.LEASES)
            return let_go > 0

        return await self._db.write(body)

    async def holder(self, name: str) -> int | None:
        """Who holds lease `name` now (None: nobody, or it expired)."""
        row = await self._db.fetch_one(
            "SELECT holder FROM leases WHERE name = :name AND expires_at > :now",
            {"name": name, "now": self._clock()},
        )
        return None if row is None else int(row[0])
