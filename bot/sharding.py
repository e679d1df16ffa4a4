"""Gateway shards: which ones this process runs, and how fast it may start them.

Discord sends each guild's events to one shard, `(guild_id >> 22) % shard_count`, and
everything without a guild (DMs) to shard 0. A bot past 2,500 servers must shard; a large
one splits its shards between processes, each naming its own with `SHARD_IDS` ("0-3",
"0,2,5", "0-3,8") out of the `SHARD_COUNT` they all share. This module reads that
notation, and paces IDENTIFYs the way Discord's session start limit allows:
https://discord.com/developers/docs/events/gateway#sharding ("Max Concurrency").
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable

SHARD_IDS_EXAMPLES = '"0-3", "0,2,5" or "0-3,8"'
IDENTIFY_WINDOW_SECONDS = 5.0  # Discord: `max_concurrency` IDENTIFYs per bucket every 5 s

_PIECE = re.compile(r"(\d+)(?:\s*-\s*(\d+))?")


def parse_shard_ids(text: str) -> tuple[range, ...]:
    """The ranges written in `text`, sorted; ValueError (its message says what to fix)
    for anything malformed, a range that runs backwards or a shard named twice.

    Ranges stay ranges, so "0-999999999" is checked against SHARD_COUNT before anyone
    lists its ids.
    """
    spans: list[tuple[range, str]] = []
    for raw in text.split(","):
        piece = raw.strip()
        match = _PIECE.fullmatch(piece)
        if match is None:
            what = f"{piece!r} is not" if piece else "an empty entry between commas is not"
            raise ValueError(
                f"{what} a shard id or a range of them (write e.g. {SHARD_IDS_EXAMPLES})"
            )
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise ValueError(f"the range {piece!r} runs backwards (write {last}-{first})")
        spans.append((range(first, last + 1), piece))
    spans.sort(key=lambda span: span[0].start)
    for (before, said_before), (after, said_after) in itertools.pairwise(spans):
        if after.start < before.stop:
            raise ValueError(
                f"shard {after.start} is named twice ({said_before!r} and {said_after!r}); "
                "each shard belongs in one place"
            )
    return tuple(span for span, _ in spans)


def check_shard_ids_exist(ranges: Iterable[range], shard_count: int) -> None:
    """ValueError naming the shards in `ranges` that `shard_count` shards do not have."""
    missing = [
        range(max(span.start, shard_count), span.stop) for span in ranges if span.stop > shard_count
    ]
    if missing:
        names = ", ".join(_span_text(span) for span in missing)
        plural = len(missing) > 1 or len(missing[0]) > 1
        existing = (
            f"the shards are 0-{shard_count - 1}" if shard_count > 1 else "the only shard is 0"
        )
        raise ValueError(
            f"{'shards' if plural else 'shard'} {names} {'do' if plural else 'does'} not exist "
            f"when SHARD_COUNT is {shard_count} ({existing})"
        )


def describe_shard_ids(shard_ids: Iterable[int]) -> str:
    """Ids in the notation operators write them in: [0, 1, 2, 3, 8] -> "0-3, 8"."""
    spans: list[range] = []
    for shard in sorted(shard_ids):
        if spans and shard == spans[-1].stop:
            spans[-1] = range(spans[-1].start, shard + 1)
        else:
            spans.append(range(shard, shard + 1))
    return ", ".join(_span_text(span) for span in spans)


def _span_text(span: range) -> str:
    return str(span.start) if len(span) == 1 else f"{span.start}-{span[-1]}"


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events to; events without a guild go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


class IdentifyPacer:
    """Lets each shard IDENTIFY as soon as Discord allows, and no sooner.

    Shards fall into `max_concurrency` buckets (`shard_id % max_concurrency`); one IDENTIFY
    per bucket per 5 s. discord.py's default waits 5 s before every IDENTIFY but the first,
    which starts 64 shards in over five minutes even where Discord allows 16 at a time.
    A bucket's lock is held while it waits, so shards re-identifying together after an
    outage still go one per window.
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.buckets = max(1, max_concurrency)
        self._clock = clock
        self._sleep = sleep
        self._last: dict[int, float] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def wait_turn(self, shard_id: int) -> None:
        key = shard_id % self.buckets
        async with self._locks[key]:
            last = self._last.get(key)
            if last is not None:
                delay = last + IDENTIFY_WINDOW_SECONDS - self._clock()
                if delay > 0:
                    await self._sleep(delay)
            self._last[key] = self._clock()
