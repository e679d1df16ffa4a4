"""Each billable create with the bot SIGKILLed just before Runway is called and just after
Runway answered; then the bot starts again and its start-up reconciliation must leave
Runway's objects and its records equal (production), or report what it cannot know (seed).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from bot.runway.sandbox import Sandbox
from bot.settings import Dialect
from tests.faults.books import Books, assert_books_match, read_books
from tests.faults.conftest import running_bot, serving_sandbox
from tests.faults.steps import KINDS, ROUTES

ROOT = Path(__file__).resolve().parents[2]
RECOVERY_SECONDS = 10.0


async def kill_during_create(
    database: Path, url: str, dialect: Dialect, kind: str, when: str
) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.faults.kill_driver",
        str(database), url, dialect.value, kind, when,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    lines = output.decode(errors="replace").splitlines()
    assert process.returncode == -signal.SIGKILL, "\n".join(lines[-30:])
    return lines


async def recover(sandbox: Sandbox, database: Path) -> tuple[Books, float]:
    """Start the bot again and let its start-up reconciliation run until nothing is open."""
    began = time.monotonic()
    async with running_bot(sandbox, database) as bot:
        while True:
            await bot.services.reconciler.run_once("start-up")
            books = await read_books(bot.database)
            if books.open_intents == 0 or time.monotonic() - began > RECOVERY_SECONDS:
                break
            await asyncio.sleep(0.25)
        if sandbox.dialect is Dialect.PRODUCTION:
            books = await assert_books_match(bot.database, sandbox)
    return books, time.monotonic() - began


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("kind", KINDS)
async def test_production_start_up_settles_a_killed_create(
    kind: str, when: str, tmp_path: Path
) -> None:
    database = tmp_path / "bot.db"
    async with serving_sandbox(Dialect.PRODUCTION) as sandbox:
        lines = await kill_during_create(database, sandbox.base_url, sandbox.dialect, kind, when)
        assert ("runway answered" in lines) == (when == "after")
        assert sandbox.handled("POST", ROUTES[kind]) == (when == "after")

        books, took = await recover(sandbox, database)
        runway = sandbox.inventory()

    # Resolved at once (within the dead process's few seconds of grace), not after 120 s.
    assert took < RECOVERY_SECONDS
    expected = {
        ("avatar", "before"): "FAILED",  # never made: the name is free again
        ("avatar", "after"): "ADOPTED",  # made: the bot follows it as its own
        ("document", "before"): "FAILED",
        ("document", "after"): "REMOVED",  # made but never attached: deleted at Runway
        ("session", "before"): "FAILED",  # never made: reservation released
        ("session", "after"): "REMOVED",  # made: cancelled at Runway, costs nothing
    }[(kind, when)]
    assert books.intents[kind] == expected
    if kind == "session" and when == "after":
        assert list(runway["sessions"].values()) == ["CANCELLED"]
        assert list(books.sessions.values()) == ["RELEASED"]
    if kind == "avatar" and when == "after":
        assert len(books.avatars) == 1


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("kind", ["avatar", "session"])
async def test_seed_start_up_frees_what_a_killed_create_held_and_reports_it(
    kind: str, when: str, tmp_path: Path
) -> None:
    database = tmp_path / "bot.db"
    async with serving_sandbox(Dialect.SEED) as sandbox:
        await kill_during_create(database, sandbox.base_url, sandbox.dialect, kind, when)
        books, _ = await recover(sandbox, database)
        runway = sandbox.inventory()

    assert books.intents[kind] == "UNRESOLVED"
    assert books.open_intents == books.placeholders == books.reserved == 0
    assert len(runway["avatars"]) + len(runway["sessions"]) == (when == "after")
