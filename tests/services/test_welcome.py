"""Whether the bot may greet a server: only one it joined recently, and only once, ever."""

from __future__ import annotations

from pathlib import Path

from bot.services.welcome import WELCOME_WINDOW_SECONDS, Welcomes
from bot.storage import Database
from bot.storage.welcomes import WelcomeRepository

NOW = 1_800_000_000


async def test_a_server_joined_recently_is_greeted_once(database_target: str | Path) -> None:
    async with Database.open(database_target) as db:
        welcomes = Welcomes(WelcomeRepository(db), clock=lambda: NOW)
        assert await welcomes.claim(1, 10, joined_at=NOW - 5)
        assert not await welcomes.claim(1, 10, joined_at=NOW - 5)  # a reconnect
        assert not await welcomes.claim(1, 10, joined_at=NOW)  # removed and invited again
        assert await welcomes.claim(2, 20, joined_at=NOW - WELCOME_WINDOW_SECONDS)


async def test_established_servers_and_unknown_join_times_stay_quiet(
    database_target: str | Path,
) -> None:
    async with Database.open(database_target) as db:
        welcomes = Welcomes(WelcomeRepository(db), clock=lambda: NOW)
        assert not welcomes.recently_joined(NOW - WELCOME_WINDOW_SECONDS - 1)
        assert not welcomes.recently_joined(None)
        assert not await welcomes.claim(3, 30, joined_at=NOW - 30 * 86_400)
        assert await welcomes.claim(3, 30, joined_at=NOW)  # nothing was claimed for it before
