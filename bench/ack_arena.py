"""One bot and its own fake Discord, in a process of its own, driven by bench/ack_latency.py.

The fake Discord runs here, away from the driver and from the other bot's fake, so what it
spends never competes with the measuring process. On `burst N` (one line on stdin) it sends N
/about interactions back to back and answers with one JSON line: each interaction's latency
(INTERACTION_CREATE sent to its callback received, this process's clock), the CPU seconds the
bot process spent meanwhile (all its threads, from /proc), the CPU seconds this process (the
fake) spent, and the time to drain the burst. `stop` ends it.

    python -m bench.ack_arena ours|bare
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

from bench.common import BARE, OURS, scratch_dir, start_fake
from tests.fakediscord import BotProcess, FakeDiscord, Member

WARM_UP = 30
MEMBERS = 50
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds of process `pid`, every thread included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def burst(fake: FakeDiscord, bot: BotProcess, members: list[Member], size: int) -> dict:
    prepared = [
        await fake.prepare_invoke("about", member=members[i % MEMBERS]) for i in range(size)
    ]
    # The fake keeps every interaction and message: collect between bursts, not during.
    gc.collect()
    gc.disable()
    try:
        bot_before, fake_before = process_cpu(bot.pid), own_cpu()
        started = time.monotonic()
        results = [await fake.send(record) for record in prepared]
        acks = [await result.ack(timeout=120) for result in results]
        drained = time.monotonic() - started
        bot_cpu, fake_cpu = process_cpu(bot.pid) - bot_before, own_cpu() - fake_before
    finally:
        gc.enable()
    return {
        "latencies": [ack.latency for ack in acks],
        "bot_cpu": bot_cpu,
        "fake_cpu": fake_cpu,
        "seconds": drained,
    }


async def main(which: str) -> None:
    contender = {"ours": OURS, "bare": BARE}[which]
    fake = await start_fake()
    bot: BotProcess | None = None
    try:
        guild = await fake.create_guild("Bench Server")
        members = [fake.create_member(guild, f"member{i}") for i in range(MEMBERS)]
        bot = await contender.launch(fake, scratch_dir(contender.name))
        for index in range(WARM_UP):
            await (await fake.invoke("about", member=members[index % MEMBERS])).ack(timeout=30)
        print(json.dumps({"ready": True, "bot_pid": bot.pid}), flush=True)
        loop = asyncio.get_running_loop()
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            if line == "stop":
                break
            size = int(line.split()[1])
            print(json.dumps(await burst(fake, bot, members, size)), flush=True)
    finally:
        if bot is not None:
            await bot.stop()
        await fake.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
