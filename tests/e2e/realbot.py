"""Starting the real bot for end-to-end tests, and what that assumes about it.

Assumptions (kept in one place): `python -m bot` reads its settings from the environment;
when discord.py fires on_ready it logs a message that begins with "ready"
(`READY_PATTERN` matches "<logger>: ready ..." in the text format and `"message": "ready ...`
in JSON lines; lines such as "database ... ready" do not); and it stops with exit code 0 on
SIGTERM.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.e2e.database import database_settings
from tests.fakediscord import BotProcess, FakeDiscord, bot_environment, free_port
from tests.fakediscord.launch import launch_bot

READY_PATTERN = r'(:\s+|"message": ")ready\b'
BOT_START_TIMEOUT = 60.0


async def start_real_bot(
    fake: FakeDiscord,
    workdir: Path,
    settings: Mapping[str, str] | None = None,
    *,
    name: str = "bot",
) -> BotProcess:
    """`python -m bot` against `fake`, with its database in `workdir` (reused if present), or
    the PostgreSQL database the module's bot uses (`tests.e2e.database`).

    `name` tells processes apart in failure reports when a test runs several.
    """
    env = bot_environment(
        fake.base_url,
        database_path=workdir / "bot.db",
        web_port=free_port(),
        extra={**database_settings(workdir), **(settings or {})},
    )
    return await launch_bot(
        fake,
        ["-m", "bot"],
        env,
        name=name,
        cwd=workdir,
        ready_pattern=READY_PATTERN,
        timeout=BOT_START_TIMEOUT,
    )
