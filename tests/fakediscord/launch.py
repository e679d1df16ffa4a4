"""Start a bot process against a fake Discord and wait until it is really up.

"Up" means: the bot identified on the fake gateway and received READY plus every
GUILD_CREATE, and printed its ready line (discord.py's on_ready). If the process dies on
the way, the wait ends at once with its output instead of running into a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from tests.fakediscord.process import READY_PATTERN, REPO_ROOT, BotProcess
from tests.fakediscord.server import FakeDiscord

T = TypeVar("T")


async def launch_bot(
    fake: FakeDiscord,
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    name: str = "bot",
    cwd: Path = REPO_ROOT,
    ready_pattern: str = READY_PATTERN,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> BotProcess:
    """The started bot, once it is connected and ready; stopped again if it never gets there."""
    sessions_before = fake.ready_count
    bot = await BotProcess.start(args, env, name=name, cwd=cwd)
    try:
        connected = fake.wait_until_ready(timeout, after=sessions_before)
        await unless_exited(bot, connected, timeout, "connect to the gateway")
        await bot.wait_for_line(ready_pattern, timeout)
    except BaseException:
        await bot.stop()
        raise
    return bot


async def unless_exited(
    bot: BotProcess,
    awaitable: Awaitable[T],
    timeout: float,  # noqa: ASYNC109
    what: str,
) -> T:
    """Await `awaitable`, failing early (with the bot's output) if the bot exits first."""
    work = asyncio.ensure_future(awaitable)
    exited = asyncio.ensure_future(bot.process.wait())
    try:
        done, _ = await asyncio.wait(
            {work, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        exited.cancel()
    if work in done:
        return work.result()
    work.cancel()
    if exited in done:
        await bot.drain()
        raise AssertionError(
            f"{bot.name} exited with {bot.process.returncode} before it could {what}:\n{bot.tail()}"
        )
    raise AssertionError(f"{bot.name} did not {what} within {timeout} s:\n{bot.tail()}")
