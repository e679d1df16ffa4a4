"""Services on a real database (each engine in turn), talking to the Runway sandbox over
loopback HTTP."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.retry import RetryPolicy
from bot.runway.sandbox import Sandbox
from bot.services.actors import Actor
from bot.services.container import Services, build_services
from bot.services.leadership import LEASE_SECONDS
from bot.settings import Dialect
from bot.storage import Database
from tests.runway.conftest import SANDBOX_KEY, production_sandbox, seed_sandbox

__all__ = ["production_sandbox", "seed_sandbox"]

GUILD = 1001
OTHER_GUILD = 2002
ADMIN = Actor(user_id=11, manages_guild=True)
MEMBER = Actor(user_id=22)


def png(*, fail: bool = False, size: int = 256) -> bytes:
    info = PngImagePlugin.PngInfo()
    if fail:
        info.add_text("Comment", "SANDBOX-FAIL")
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (30, 90, 160)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


@dataclass
class World:
    services: Services
    sandbox: Sandbox
    runway: RunwayClient
    database: Database


async def open_world(
    sandbox: Sandbox,
    target: str | Path,
    dialect: Dialect,
    *,
    trace: Callable[[str], None] | None = None,
    max_live_per_guild: int = 3,
    runway_max_live_sessions: int = 100,
    tracker_poll_seconds: float = 5.0,
    lease_seconds: int = LEASE_SECONDS,
) -> AsyncIterator[World]:
    """Every service on the database at `target`, wired as in production, against `sandbox`."""
    async with (
        Database.open(target, trace=trace) as database,
        RunwayClient(
            base_url=sandbox.base_url,
            api_key=SecretStr(SANDBOX_KEY),
            dialect=dialect,
            retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        ) as runway,
    ):
        services = await build_services(
            database,
            runway,
            join_base_url="https://bot.example.org",
            session_max_seconds=300,
            max_live_per_guild=max_live_per_guild,
            runway_max_live_sessions=runway_max_live_sessions,
            tracker_poll_seconds=tracker_poll_seconds,
            lease_seconds=lease_seconds,
            avatar_poll_interval=0.05,
            session_poll_interval=0.05,
        )
        try:
            yield World(services=services, sandbox=sandbox, runway=runway, database=database)
        finally:
            await services.close()


@pytest.fixture
async def world(production_sandbox: Sandbox, database_target: str | Path) -> AsyncIterator[World]:
    async for item in open_world(production_sandbox, database_target, Dialect.PRODUCTION):
        yield item


@pytest.fixture
async def seed_world(seed_sandbox: Sandbox, database_target: str | Path) -> AsyncIterator[World]:
    async for item in open_world(seed_sandbox, database_target, Dialect.SEED):
        yield item
