"""A bot's services on a real database file and a Runway sandbox over loopback, with
timings scaled down: a billable create gives up after 1 s (production: 120 s), a lost answer
may still turn into an object for 2 s (60 s), the member's reply looks for it for 4 s (20 s).
A "40 s answer" is then an answer 3 s late: the same path, in a fraction of the time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.retry import RetryPolicy
from bot.runway.sandbox import Sandbox
from bot.services.container import Services, build_services
from bot.settings import Dialect
from bot.storage import Database
from tests.runway.conftest import SANDBOX_KEY, fast_config

CREATE_SECONDS = 1.0
GRACE_SECONDS = 2
INLINE_SECONDS = 4.0
LATE_ANSWER_SECONDS = 3.0  # stands for the 40 s answer: later than the bot waits


@dataclass
class Bot:
    services: Services
    database: Database
    runway: RunwayClient
    sandbox: Sandbox


@asynccontextmanager
async def running_bot(
    sandbox: Sandbox, database_path: Path, *, create_seconds: float = CREATE_SECONDS
) -> AsyncIterator[Bot]:
    """The services as the composition root builds them (a new process each time)."""
    async with (
        Database.open(database_path) as database,
        RunwayClient(
            base_url=sandbox.base_url,
            api_key=SecretStr(SANDBOX_KEY),
            dialect=sandbox.dialect,
            retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
            create_read_seconds=create_seconds,
        ) as runway,
    ):
        services = await build_services(
            database,
            runway,
            join_base_url="https://bot.example.org",
            session_max_seconds=300,
            max_live_per_guild=3,
            avatar_poll_interval=0.05,
            session_poll_interval=0.05,
            unsure_grace_seconds=GRACE_SECONDS,
            inline_check_seconds=INLINE_SECONDS,
            slow_notice_seconds=0.5,
        )
        yield Bot(services, database, runway, sandbox)


@asynccontextmanager
async def serving_sandbox(dialect: Dialect) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(dialect=dialect, api_key=SANDBOX_KEY, config=fast_config())
    async with sandbox.serve(host="127.0.0.1", port=0):
        yield sandbox
