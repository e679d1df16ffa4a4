"""Gateway shards across processes: claimed at start, refused on overlap, gaps reported.

Each bot process claims the shards it runs before the first of them identifies. A claim that
overlaps a live process's, or names a different shard count, is refused with one line that
names the shards and the other process, so the operator can fix SHARD_IDS or SHARD_COUNT.

Shards no live process runs ("missing") are reported, never refused: a cluster starts one
process at a time, so while the first process starts every other shard is missing, and a
process that refused to start until the others ran would never start. They are logged at
each start, shown to admins in `/about` and exported as a metric.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.services.processes import ProcessIdentity
from bot.sharding import describe_shard_ids
from bot.storage.shards import ShardClaimRepository, ShardHolder

log = logging.getLogger(__name__)


class ShardClaimRefused(Exception):
    """Another live process runs some of these shards, or counts shards differently."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """The cluster's shards as the live claims show them."""

    shard_count: int | None
    """The count the live processes share (None: no live claim)."""
    claimed: frozenset[int]
    processes: int

    @property
    def missing(self) -> tuple[int, ...]:
        if self.shard_count is None:
            return ()
        return tuple(shard for shard in range(self.shard_count) if shard not in self.claimed)


class ShardClaims:
    def __init__(self, claims: ShardClaimRepository, identity: ProcessIdentity) -> None:
        self._claims = claims
        self._identity = identity

    async def claim(self, shard_ids: tuple[int, ...], shard_count: int) -> Coverage:
        """Claim this process's shards; `ShardClaimRefused` (its message names what is in the
        way) if another live process holds any of them or runs another shard count."""
        result = await self._claims.claim(
            self._identity.id,
            shard_ids,
            shard_count,
            stale_before=self._identity.stale_before(),
            others_dead=self._identity.exclusive,
        )
        if not result.granted:
            raise ShardClaimRefused(_refusal(shard_ids, shard_count, result.refused_by))
        coverage = _coverage(result.holders)
        if coverage.missing:
            log.warning(
                "no live process runs %s of %d yet (normal while a cluster starts one process "
                "at a time; check SHARD_IDS if it lasts)",
                _shards_text(coverage.missing),
                shard_count,
            )
        return coverage

    async def coverage(self) -> Coverage:
        return _coverage(
            await self._claims.holders(
                self._identity.id,
                stale_before=self._identity.stale_before(),
                others_dead=self._identity.exclusive,
            )
        )

    async def release(self) -> None:
        await self._claims.release(self._identity.id)


def _coverage(holders: tuple[ShardHolder, ...] | list[ShardHolder]) -> Coverage:
    counts = {holder.shard_count for holder in holders}
    return Coverage(
        shard_count=max(counts) if counts else None,
        claimed=frozenset(holder.shard_id for holder in holders),
        processes=len({holder.process_id for holder in holders}),
    )


def _shards_text(shards: tuple[int, ...] | list[int]) -> str:
    noun = "shard" if len(shards) == 1 else "shards"
    return f"{noun} {describe_shard_ids(shards)}"


def _refusal(mine: tuple[int, ...], shard_count: int, holders: tuple[ShardHolder, ...]) -> str:
    by_process: dict[tuple[int, str, int], list[ShardHolder]] = {}
    for holder in holders:
        by_process.setdefault((holder.process_id, holder.host, holder.pid), []).append(holder)
    problems: list[str] = []
    for (process_id, host, pid), held in by_process.items():
        who = f"process {process_id} on {host} (pid {pid})"
        counts = {holder.shard_count for holder in held}
        if counts != {shard_count}:
            problems.append(
                f"{who} runs SHARD_COUNT={max(counts)}, this one {shard_count}; every process "
                "of the bot must use the same SHARD_COUNT"
            )
            continue
        overlap = sorted(holder.shard_id for holder in held if holder.shard_id in mine)
        problems.append(f"{_shards_text(overlap)} of {shard_count} already run in {who}")
    return (
        "; ".join(problems)
        + ". Give each process its own SHARD_IDS (or stop the other process first)."
    )
