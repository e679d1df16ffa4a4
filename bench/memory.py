"""Peak memory at start-up with 10,000 servers: ours against a bare discord.py bot.

Each bot connects to a fake Discord that holds 10,000 guilds (each with a few channels
and roles, announced in READY as unavailable and then one GUILD_CREATE each, as Discord
does for a bot in that many servers). Once the bot is ready, its peak resident set size
(VmHWM) is read from /proc. The bots run one after the other, so neither competes with
the other for memory or CPU. Prints both peaks, each bot's peak in a single guild (its
fixed cost) and its cost per guild, and the ratio ours/bare (goal <= 1.2). The ratio
depends on guild size: the per-guild cache is discord.py's and the same for both bots,
so bigger guilds bring the ratio towards 1 and tiny ones push it up.

    python -m bench.memory [--guilds 10000] [--channels 5] [--roles 4]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.common import CONTENDERS, Contender, machine, scratch_dir, start_fake

MIB = 1024 * 1024


async def measure(
    contender: Contender, guilds: int, channels: int, roles: int
) -> tuple[int, int, float]:
    """(peak RSS, RSS now, seconds to ready) for one bot in `guilds` servers."""
    fake = await start_fake()
    try:
        fake.add_guilds_quietly(guilds, channels=channels, roles=roles)
        started = time.monotonic()
        bot = await contender.launch(fake, scratch_dir(contender.name), timeout=150.0)
        ready_after = time.monotonic() - started
        try:
            return bot.peak_rss_bytes(), bot.rss_bytes(), ready_after
        finally:
            await bot.stop()
    finally:
        await fake.stop()


async def main(guilds: int, channels: int, roles: int) -> None:
    alone = {c.name: await measure(c, 1, channels, roles) for c in CONTENDERS}
    results = {c.name: await measure(c, guilds, channels, roles) for c in CONTENDERS}
    print(
        f"memory: peak RSS once ready in {guilds} guilds "
        f"({channels} channels, {roles + 2} roles each), intents: guilds only"
    )
    print(f"machine: {machine()}")
    for name, (peak, now, ready_after) in results.items():
        per_guild = (peak - alone[name][0]) / guilds
        print(
            f"  {name:16} peak {peak / MIB:7.1f} MiB   now {now / MIB:7.1f} MiB   "
            f"in 1 guild {alone[name][0] / MIB:6.1f} MiB   per guild {per_guild / 1024:5.2f} KiB   "
            f"ready after {ready_after:5.1f} s"
        )
    (bare_peak, _, _), (ours_peak, _, _) = results.values()
    print(f"  ratio ours/bare  {ours_peak / bare_peak:.2f}x   (goal <= 1.2x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--guilds", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=5, help="text channels per guild")
    parser.add_argument(
        "--roles", type=int, default=4, help="roles per guild besides the default two"
    )
    options = parser.parse_args()
    asyncio.run(main(options.guilds, options.channels, options.roles))
