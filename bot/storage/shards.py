"""Which process runs which gateway shard, so two processes never run the same one.

Discord lets two sessions identify as the same shard and sends both its events (see
tests/fakediscord/sharding.py), so only the bot can refuse an overlap. A process claims its
shards once, before its first IDENTIFY, in one transaction that first drops the claims of dead
processes; the claims of live ones are checked against its own and either all of its own are
inserted or none. A claim lives as long as its process: it stops counting the moment the
process stops or its heartbeat goes stale, with no separate expiry to keep.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.common import Clock, unix_now
from bot.storage.database import Database
from bot.storage.locks import LockKey
from bot.storage.transaction import Row, WriteTx


@dataclass(frozen=True, slots=True)
class ShardHolder:
    """A live process's claim on one shard."""

    shard_id: int
    shard_count: int
    process_id: int
    host: str
    pid: int
    heartbeat_at: int


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What the claim found: `refused_by` holds the live claims that stand in the way (a shard
    of ours, or a different shard count); empty when ours were recorded. `holders` are every
    live claim afterwards (ours included when granted)."""

    refused_by: tuple[ShardHolder, ...]
    holders: tuple[ShardHolder, ...]

    @property
    def granted(self) -> bool:
        return not self.refused_by


# Dead: stopped, or silent since :stale. With :others_dead (SQLite, one process at a time)
# every process but the claimant is.
_DROP_DEAD = (
    "DELETE FROM shard_claims WHERE process_id IN (SELECT id FROM processes WHERE id <> :me"
    " AND (:others_dead OR stopped_at IS NOT NULL OR heartbeat_at < :stale))"
)

_HOLDERS = (
    "SELECT c.shard_id, c.shard_count, c.process_id, p.host, p.pid, p.heartbeat_at"
    " FROM shard_claims AS c JOIN processes AS p ON p.id = c.process_id"
    " WHERE p.stopped_at IS NULL AND (p.heartbeat_at >= :stale OR p.id = :me)"
    " AND NOT (:others_dead AND p.id <> :me)"
    " ORDER BY c.shard_id"
)


class ShardClaimRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def claim(
        self,
        process_id: int,
        shard_ids: tuple[int, ...],
        shard_count: int,
        *,
        stale_before: int,
        others_dead: bool,
    ) -> ClaimResult:
        """Claim `shard_ids` of `shard_count` for `process_id`, all or none."""
        now = self._clock()
        params = {"me": process_id, "stale": stale_before, "others_dead": others_dead}

        def body(tx: WriteTx) -> ClaimResult:
            tx.lock(LockKey.SHARD_CLAIMS)  # two processes starting together: one after the other
            tx.execute(_DROP_DEAD, params)
            tx.execute("DELETE FROM shard_claims WHERE process_id = :me", {"me": process_id})
            others = [_holder(row) for row in tx.fetch_all(_HOLDERS, params)]
            wanted = set(shard_ids)
            refused = tuple(
                holder
                for holder in others
                if holder.shard_id in wanted or holder.shard_count != shard_count
            )
            if refused:
                return ClaimResult(refused_by=refused, holders=tuple(others))
            for shard in sorted(wanted):
                tx.execute(
                    "INSERT INTO shard_claims (shard_id, shard_count, process_id, claimed_at)"
                    " VALUES (?, ?, ?, ?)",
                    (shard, shard_count, process_id, now),
                )
            return ClaimResult(
                refused_by=(), holders=tuple(_holder(row) for row in tx.fetch_all(_HOLDERS, params))
            )

        return await self._db.write(body)

    async def release(self, process_id: int) -> None:
        await self._db.write(
            lambda tx: tx.execute("DELETE FROM shard_claims WHERE process_id = ?", (process_id,))
        )

    async def held(self, process_id: int) -> set[int]:
        """The shards whose claim is still `process_id`'s."""
        rows = await self._db.fetch_all(
            "SELECT shard_id FROM shard_claims WHERE process_id = ?", (process_id,)
        )
        return {int(row[0]) for row in rows}

    async def holders(self, me: int, *, stale_before: int, others_dead: bool) -> list[ShardHolder]:
        """Every live claim, as `me` sees the cluster."""
        rows = await self._db.fetch_all(
            _HOLDERS, {"me": me, "stale": stale_before, "others_dead": others_dead}
        )
        return [_holder(row) for row in rows]


def _holder(row: Row) -> ShardHolder:
    return ShardHolder(
        shard_id=int(row[0]),
        shard_count=int(row[1]),
        process_id=int(row[2]),
        host=str(row[3]),
        pid=int(row[4]),
        heartbeat_at=int(row[5]),
    )
