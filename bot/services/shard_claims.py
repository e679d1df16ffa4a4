"""Gateway shards across processes: claimed at start, refused on overlap, gaps reported.

Each bot process claims the shards it runs before the first of them identifies. A claim that
overlaps a live process's, or names a different shard count, is refused with one line that
names the shards and the other process, so the operator can fix SHARD_IDS or SHARD_COUNT.

Shards no live process runs ("missing") are reported, never refused: a cluster starts one
process at a time, so while the first process starts every other shard is missing, and a
process that refused to start until the others ran would never start. They are logged at
each start, shown to admins in `/about` and exported as a metric.

A process silent for longer than a live one may be is dead to the others, which may then
take its shards; if it was only cut off (a database outage), it finds its claims gone at
its next check and stops rather than run those shards a second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.services.background import Background
from bot.services.processes import HEARTBEAT_SECONDS, STALE_SECONDS, ProcessIdentity
from bot.sharding import describe_shard_ids
from bot.storage.shards import ShardClaimRepository, ShardHolder

log = logging.getLogger(__name__)


LATE_SECONDS = int(HEARTBEAT_SECONDS * 1.5)
"""A holder silent this long has missed a heartbeat: a start waits for it to go stale."""


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
    def __init__(
        self,
        claims: ShardClaimRepository,
        identity: ProcessIdentity,
        *,
        check_seconds: float = HEARTBEAT_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._claims = claims
        self._identity = identity
        self._check_seconds = check_seconds
        self._sleep = sleep
        self._claimed: frozenset[int] = frozenset()
        self._on_lost: Callable[[str], None] | None = None
        self._watch = Background("shard-claims", self._watch_claims)

    async def claim(self, shard_ids: tuple[int, ...], shard_count: int) -> Coverage:
        """Claim this process's shards; `ShardClaimRefused` (its message names what is in the
        way) if another live process holds any of them or runs another shard count."""
        while True:
            await self._identity.notice_exited()  # a crashed predecessor on this machine
            result = await self._claims.claim(
                self._identity.id,
                shard_ids,
                shard_count,
                stale_before=self._identity.stale_before(),
                others_dead=self._identity.exclusive,
            )
            if result.granted:
                break
            wait = self._wait_for_late(result.refused_by)
            if wait is None:
                raise ShardClaimRefused(_refusal(shard_ids, shard_count, result.refused_by))
            await self._sleep(wait)
        self._claimed = frozenset(shard_ids)
        coverage = _coverage(result.holders)
        if coverage.missing:
            log.warning(
                "no live process runs %s of %d yet (normal while a cluster starts one process "
                "at a time; check SHARD_IDS if it lasts)",
                _shards_text(coverage.missing),
                shard_count,
            )
        return coverage

    def _wait_for_late(self, holders: tuple[ShardHolder, ...]) -> float | None:
        """Seconds until the holders in the way count as dead, if every one of them has
        missed a heartbeat: most likely a crashed process on another machine or in another
        container (a restarted container's, say), worth waiting out rather than refusing.
        None while any of them beats on."""
        now = self._identity.now()
        if any(now - holder.heartbeat_at < LATE_SECONDS for holder in holders):
            return None
        last = max(holder.heartbeat_at for holder in holders)
        wait = last + STALE_SECONDS + 1 - now
        processes = sorted({holder.process_id for holder in holders})
        log.info(
            "the shards of process %s are still claimed, but it has been silent for %d s: "
            "waiting %d s for it to count as dead",
            ", ".join(map(str, processes)),
            now - last,
            wait,
        )
        return float(max(1, wait))

    async def coverage(self) -> Coverage:
        return _coverage(
            await self._claims.holders(
                self._identity.id,
                stale_before=self._identity.stale_before(),
                others_dead=self._identity.exclusive,
            )
        )

    async def release(self) -> None:
        await self._watch.stop()
        await self._claims.release(self._identity.id)

    async def lost(self) -> tuple[int, ...]:
        """The shards this process claimed that another has taken since: it found this
        process dead (a heartbeat silent for STALE_SECONDS, say through a database outage)."""
        held = await self._claims.held(self._identity.id)
        return tuple(sorted(self._claimed - held))

    def watch(self, on_lost: Callable[[str], None]) -> None:
        """Check the claims every heartbeat; `on_lost` hears why, once, if they are gone.
        Running on regardless would answer every command of those shards twice."""
        self._on_lost = on_lost
        self._watch.start()

    async def _watch_claims(self) -> None:
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                lost = await self.lost()
            except Exception:  # the database is away; the heartbeat says so too
                log.warning("could not check this process's shard claims", exc_info=True)
                continue
            if lost and self._on_lost is not None:
                self._on_lost(
                    f"another process has taken {_shards_text(lost)}, having counted this one "
                    f"as dead (silent for over {STALE_SECONDS} s; on the SQLite file, any "
                    "process started after it); stopping so no shard runs twice"
                )
                return


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
