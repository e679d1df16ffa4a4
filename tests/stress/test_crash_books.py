"""Crash test: SIGKILL the process at random points of starting and settling calls, restart it,
and check after every kill that the books balance.

The process is `tests/stress/crash_driver.py`, run on one SQLite file against a Runway sandbox
served by this test (SQLite only: killing processes that share a PostgreSQL database is the
cross-process failover test's job). Half the runs kill themselves right after a chosen step
(reserved, created at Runway, opened, joined, hung up, settled) so each point is hit for sure;
the others are killed from here after a random time. After each kill, members whose calls were
running hang up (as people do), and the books are audited: no limit overshot, no impossible
row.
At the end one last run only recovers, and then nothing may be left live, every report must
equal the settled sessions, and our seconds must equal what Runway itself counted.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.models import SessionStatus
from bot.runway.sandbox import Sandbox
from bot.settings import Dialect
from bot.storage import Database, Period, SessionRepository, UsageRepository
from bot.storage.books import BooksRepository
from bot.storage.rollups import differences
from tests.runway.conftest import SANDBOX_KEY, fast_config
from tests.stress.books import audit
from tests.stress.crash_driver import PLAN, RULES, STEPS

pytestmark = pytest.mark.slow

CYCLES = 24
OFFSET_STEP = 6 * 3600  # each run's clock is six hours on from the last one's
ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = Period(0, 2**40)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    served = Sandbox(dialect="production", api_key=SANDBOX_KEY, config=fast_config())
    async with served.serve(host="127.0.0.1", port=0):
        yield served


class Run:
    """One driver process, its output read as it comes (so its pipe never fills)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.steps: Counter[str] = Counter()
        self.lines: list[str] = []
        self.ready = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def launch(cls, *args: str) -> Run:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.stress.crash_driver",
            *args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").strip()
            self.lines.append(line)
            if line == "ready":
                self.ready.set()
            elif line in STEPS:
                self.steps[line] += 1

    async def finish(self, timeout: float) -> int:  # noqa: ASYNC109
        """Its exit code, killing it first if it has not ended within `timeout` s."""
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        await self.reader
        assert self.process.returncode is not None
        return self.process.returncode

    def tail(self) -> str:
        return "\n".join(self.lines[-30:])


async def hang_up_running_calls(database: Path, runway: RunwayClient, sandbox: Sandbox) -> int:
    """Members whose call was running when the process died hang up now."""
    rng = random.Random(len(str(database)))
    async with Database.open(database) as db:
        live = await SessionRepository(db).open_sessions()
    ended = 0
    for session in live:
        if session.runway_id is None:
            continue
        remote = await runway.get_session(session.runway_id)
        if remote.status is SessionStatus.RUNNING:
            sandbox.end_session(
                session.runway_id, after_seconds=rng.randint(1, session.max_seconds)
            )
            ended += 1
    return ended


async def test_books_balance_after_every_kill(sandbox: Sandbox, tmp_path: Path) -> None:
    database = tmp_path / "crash.db"
    rng = random.Random(7)
    common = ["--database", str(database), "--runway", sandbox.base_url, "--key", SANDBOX_KEY]
    began_at = datetime.now(UTC)
    began = time.monotonic()
    killed_at: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    hung_up = 0
    async with RunwayClient(base_url=sandbox.base_url, api_key=SecretStr(SANDBOX_KEY)) as runway:
        for cycle in range(CYCLES):
            offset = ["--offset", str(cycle * OFFSET_STEP), "--seed", str(cycle)]
            if cycle % 2 == 0:
                step = STEPS[(cycle // 2) % len(STEPS)]
                run = await Run.launch(*common, *offset, "--die-at", f"{step}:{rng.randint(1, 4)}")
                code = await run.finish(timeout=15.0)
                killed_at[step if code == -signal.SIGKILL and run.steps[step] else "timeout"] += 1
            else:
                run = await Run.launch(*common, *offset)
                await asyncio.wait_for(run.ready.wait(), 15.0)
                await asyncio.sleep(rng.uniform(0.05, 1.2))
                run.process.send_signal(signal.SIGKILL)
                code = await run.finish(timeout=5.0)
                killed_at["random"] += 1
            assert code == -signal.SIGKILL, f"run {cycle} ended with {code}:\n{run.tail()}"
            steps += run.steps
            hung_up += await hang_up_running_calls(database, runway, sandbox)
            audit(database, PLAN, RULES)  # raises on any overshoot or impossible row

        final = await Run.launch(*common, "--offset", str(CYCLES * OFFSET_STEP), "--recover-only")
        assert await final.finish(timeout=30.0) == 0, final.tail()
        books = audit(database, PLAN, RULES)
        assert books.live == 0, "a reservation or call was left dangling"
        async with Database.open(database) as db:
            usage = UsageRepository(db)
            per_guild = [await usage.totals(server.guild_id, EVERYTHING) for server in PLAN]
            ours = await BooksRepository(db).account_totals(EVERYTHING, Dialect.PRODUCTION)
            # The rollups, kept in the transactions the kills interrupted, equal the sessions.
            assert await db.read(differences) == {}
        theirs = await runway.usage(
            began_at - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
        )
    assert sum(t.settled_seconds for t in per_guild) == books.settled_seconds
    assert sum(t.settled_sessions for t in per_guild) == books.settled
    assert ours.settled_seconds == books.settled_seconds
    assert ours.settled_seconds == theirs.total_seconds, "our books and Runway's disagree"
    assert set(killed_at) >= set(STEPS), killed_at  # every point was hit
    assert steps["settled"] > 0
    print(
        f"\ncrash: {CYCLES} kills in {time.monotonic() - began:.1f} s "
        f"({dict(killed_at)}); steps run {dict(steps)}; {hung_up} calls hung up after a kill; "
        f"{books.sessions} sessions: {books.settled} settled ({books.settled_seconds} s), "
        f"{books.released} released, 0 live; Runway counted {theirs.total_seconds} s: "
        "difference 0"
    )
