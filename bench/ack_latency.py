"""How much the bot itself spends per interaction, and how fast /about is acknowledged under a
burst: ours against a bare discord.py bot.

Each bot runs as its own process against its own fake Discord, and each fake runs in a process
of its own (bench/ack_arena.py), not in this one: the fake spends more CPU per interaction than
either bot, so measured from one process it was the fake's speed that set both bots' figures.
Bursts of 500 INTERACTION_CREATE events alternate between the two bots over the rounds, so both
see the same machine conditions.

For each bot it prints the CPU time the bot process spent per interaction (every thread, from
/proc, over all bursts), the fake's CPU per interaction beside it, and the latency from
dispatch to callback (p50 and p99: the median over bursts of each burst's percentile, so one
burst hit by a noisy neighbour does not decide; pooled figures follow). The baseline is
bench/bare_bot.py: the same intents and caches, one /about command answering an embed of the
same shape, so the ratios compare the work around the reply. Goal: CPU per interaction
ours/bare <= 1.1x.

    python -m bench.ack_latency [--burst 500] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from bench.common import machine, median, percentile
from tests.fakediscord.process import REPO_ROOT


@dataclass
class Arena:
    """One bot and its fake, in their processes; what their bursts measured."""

    name: str
    process: asyncio.subprocess.Process
    bursts: list[list[float]] = field(default_factory=list)
    bot_cpu: list[float] = field(default_factory=list)
    fake_cpu: list[float] = field(default_factory=list)
    drained: list[float] = field(default_factory=list)

    @classmethod
    async def open(cls, name: str) -> Arena:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.ack_arena",
            name,
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        arena = cls(name, process)
        ready = await arena._answer(timeout=180)
        assert ready.get("ready"), ready
        return arena

    async def burst(self, size: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"burst {size}\n".encode())
        await self.process.stdin.drain()
        result = await self._answer(timeout=300)
        self.bursts.append(result["latencies"])
        self.bot_cpu.append(result["bot_cpu"])
        self.fake_cpu.append(result["fake_cpu"])
        self.drained.append(result["seconds"])

    async def close(self) -> None:
        if self.process.stdin is not None and self.process.returncode is None:
            self.process.stdin.write(b"stop\n")
            await self.process.stdin.drain()
        await asyncio.wait_for(self.process.wait(), 60)

    async def _answer(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"the {self.name} arena exited with {await self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    @property
    def interactions(self) -> int:
        return sum(len(burst) for burst in self.bursts)

    def cpu_ms(self, spent: list[float]) -> float:
        return sum(spent) / self.interactions * 1000

    def per_burst(self, fraction: float) -> float:
        return median([percentile(burst, fraction) for burst in self.bursts]) * 1000

    def pooled(self, fraction: float) -> float:
        return percentile([x for burst in self.bursts for x in burst], fraction) * 1000


async def main(size: int, rounds: int) -> None:
    arenas = [await Arena.open("bare"), await Arena.open("ours")]
    try:
        for _ in range(rounds):
            for arena in arenas:
                await arena.burst(size)
                await asyncio.sleep(0.5)
    finally:
        for arena in arenas:
            await arena.close()

    print(
        f"ack latency: {rounds} rounds x burst of {size} /about interactions per bot; "
        "each fake Discord in a process of its own"
    )
    print(f"machine: {machine()}")
    for arena in arenas:
        spent = [cpu / len(b) * 1000 for cpu, b in zip(arena.bot_cpu, arena.bursts, strict=True)]
        print(
            f"  {arena.name:5} bot CPU {arena.cpu_ms(arena.bot_cpu):5.3f} ms per interaction "
            f"(bursts {min(spent):.3f}-{max(spent):.3f}), its fake "
            f"{arena.cpu_ms(arena.fake_cpu):5.3f} ms;   latency p50 "
            f"{arena.per_burst(0.5):6.1f} ms, p99 {arena.per_burst(0.99):6.1f} ms "
            f"(pooled p50 {arena.pooled(0.5):.1f}, p99 {arena.pooled(0.99):.1f});   "
            f"drained in {statistics.median(arena.drained):.2f} s"
        )
    bare, ours = arenas
    cpu_ratio = ours.cpu_ms(ours.bot_cpu) / bare.cpu_ms(bare.bot_cpu)
    print(
        f"  ratio ours/bare: CPU per interaction {cpu_ratio:.2f}x (goal <= 1.1x);   "
        f"latency p50 {ours.per_burst(0.5) / bare.per_burst(0.5):.2f}x, "
        f"p99 {ours.per_burst(0.99) / bare.per_burst(0.99):.2f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=500, help="interactions per burst")
    parser.add_argument("--rounds", type=int, default=20, help="bursts per bot")
    options = parser.parse_args()
    asyncio.run(main(options.burst, options.rounds))
