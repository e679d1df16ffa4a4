"""What both benchmarks share: the two bots under comparison and the machine they ran on.

"Ours" is the real bot exactly as deployed (`python -m bot`, Runway sandbox, scratch
database); "bare" is `bench/bare_bot.py`, the least discord.py bot with the same intents
and caches. Both run as separate processes against a fake Discord in this process, with
its request validation off so that the fake's own work stays out of the figures.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import discord

from tests.e2e.realbot import READY_PATTERN
from tests.fakediscord import BotProcess, FakeDiscord, bot_environment, free_port
from tests.fakediscord.launch import launch_bot

# Our bot is measured as a live deployment runs it, not in sandbox (trial) mode, which also
# loads the Runway emulator. Runway is never called during these benchmarks, so the address
# below (a closed loopback port) is never contacted.
LIVE_MODE = {
    "RUNWAY_SANDBOX": "false",
    "RUNWAYML_API_SECRET": "bench-key-never-sent",
    "RUNWAY_BASE_URL": "http://127.0.0.1:9",
    "PUBLIC_URL": "http://127.0.0.1:8080",
}


@dataclass(frozen=True)
class Contender:
    """A bot to measure: how to start it and how to tell it is ready."""

    name: str
    args: tuple[str, ...]
    ready_pattern: str

    async def launch(
        self,
        fake: FakeDiscord,
        workdir: Path,
        timeout: float = 120.0,  # noqa: ASYNC109
    ) -> BotProcess:
        env = bot_environment(
            fake.base_url,
            database_path=workdir / "bot.db",
            web_port=free_port(),
            log_level="INFO",
            extra=LIVE_MODE,
        )
        return await launch_bot(
            fake,
            self.args,
            env,
            name=self.name,
            cwd=workdir,
            ready_pattern=self.ready_pattern,
            timeout=timeout,
        )


BARE = Contender("bare discord.py", ("-m", "bench.bare_bot"), r"^ready in \d+ guilds")
OURS = Contender("ours", ("-m", "bot"), READY_PATTERN)
CONTENDERS = (BARE, OURS)


async def start_fake() -> FakeDiscord:
    return await FakeDiscord.start(validate=False, check_responses=False, ack_deadline=600.0)


def scratch_dir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"bench-{name.replace(' ', '-')}-"))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p50, p99) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    """One line about where the figures came from."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, discord.py {discord.__version__}"
    )
