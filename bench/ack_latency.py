"""How fast /about is acknowledged under a burst: ours against a bare discord.py bot.

For each bot, 500 INTERACTION_CREATE events are sent back to back on the gateway; the
latency of one is the time from its dispatch to its interaction callback arriving at the
fake Discord (both clocks are this process's). Both bots run side by side, each against
its own fake, and the bursts alternate between them over a few rounds so that both see
the same machine conditions. For each bot it prints p50 and p99 (the median over bursts of
each burst's percentile, so one burst hit by a GC pause or a noisy neighbour does not
decide the result; the pooled figures follow) and the ratio ours/bare (goal <= 1.3).
Twenty rounds (the default) take about 40 s in all.

    python -m bench.ack_latency [--burst 500] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from dataclasses import dataclass, field

from bench.common import (
    CONTENDERS,
    Contender,
    machine,
    median,
    percentile,
    scratch_dir,
    start_fake,
)
from tests.fakediscord import BotProcess, FakeDiscord, Member

WARM_UP = 20
MEMBERS = 50


@dataclass
class Arena:
    """One bot, its fake Discord, and the members who will run /about."""

    contender: Contender
    fake: FakeDiscord
    bot: BotProcess
    members: list[Member]
    bursts: list[list[float]] = field(default_factory=list)
    burst_seconds: list[float] = field(default_factory=list)

    def per_burst(self, fraction: float) -> float:
        """The median over bursts of each burst's percentile, in ms (robust to a bad burst)."""
        return median([percentile(b, fraction) for b in self.bursts]) * 1000

    def pooled(self, fraction: float) -> float:
        return percentile([x for b in self.bursts for x in b], fraction) * 1000


async def open_arena(contender: Contender) -> Arena:
    fake = await start_fake()
    guild = await fake.create_guild("Bench Server")
    members = [fake.create_member(guild, f"member{i}") for i in range(MEMBERS)]
    bot = await contender.launch(fake, scratch_dir(contender.name))
    arena = Arena(contender, fake, bot, members)
    for index in range(WARM_UP):
        await (await fake.invoke("about", member=members[index % MEMBERS])).ack(timeout=30)
    return arena


async def burst(arena: Arena, size: int) -> None:
    """Send `size` interactions as fast as the gateway takes them; wait for every ack."""
    fake = arena.fake
    prepared = [
        await fake.prepare_invoke("about", member=arena.members[i % MEMBERS]) for i in range(size)
    ]
    # The fake keeps every interaction and message, so this process's garbage collector
    # would pause more and more often; collect between bursts, not while measuring.
    gc.collect()
    gc.disable()
    try:
        started = time.monotonic()
        results = [await fake.send(record) for record in prepared]
        acks = [await result.ack(timeout=120) for result in results]
        arena.burst_seconds.append(time.monotonic() - started)
    finally:
        gc.enable()
    arena.bursts.append([ack.latency for ack in acks])


async def close_arena(arena: Arena) -> None:
    await arena.bot.stop()
    await arena.fake.stop()


async def main(size: int, rounds: int) -> None:
    arenas = [await open_arena(contender) for contender in CONTENDERS]
    try:
        for _ in range(rounds):
            for arena in arenas:
                await burst(arena, size)
                await asyncio.sleep(0.5)
    finally:
        for arena in arenas:
            await close_arena(arena)

    print(f"ack latency: {rounds} rounds x burst of {size} /about interactions per bot")
    print(f"machine: {machine()}")
    figures: dict[str, tuple[float, float]] = {}
    for arena in arenas:
        p50, p99 = arena.per_burst(0.50), arena.per_burst(0.99)
        late = sum(latency > 3.0 for b in arena.bursts for latency in b)
        drain = median(arena.burst_seconds)
        figures[arena.contender.name] = (p50, p99)
        print(
            f"  {arena.contender.name:16} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   "
            f"(all bursts pooled: p50 {arena.pooled(0.5):.1f}, p99 {arena.pooled(0.99):.1f})   "
            f"drained in {drain:.2f} s   over 3 s: {late}"
        )
    (bare_p50, bare_p99), (ours_p50, ours_p99) = figures.values()
    ratios = f"p50 {ours_p50 / bare_p50:.2f}x   p99 {ours_p99 / bare_p99:.2f}x"
    print(f"  ratio ours/bare  {ratios}   (goal <= 1.3x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=500, help="interactions per burst")
    parser.add_argument("--rounds", type=int, default=20, help="bursts per bot")
    options = parser.parse_args()
    asyncio.run(main(options.burst, options.rounds))
