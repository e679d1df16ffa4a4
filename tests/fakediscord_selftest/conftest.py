"""Fixtures for the harness self-tests: a fake Discord and, where needed, the probe bot.

The probe bot is one subprocess per test module (it takes about a second to start), and
every test that touches the fake ends by asserting the bot's REST calls were all ones
Discord would accept, unless the test took the violations it provoked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.fakediscord import BotProcess, FakeDiscord, Guild
from tests.fakediscord.launch import launch_bot
from tests.fakediscord.reference import DISCORD_OPENAPI_FILE
from tests.support.reference import reference_file


@pytest.fixture(scope="session")
def spec_path() -> Path:
    """Discord's OpenAPI description; the self-tests that need it skip without it."""
    return reference_file(DISCORD_OPENAPI_FILE)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake(spec_path: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord.serve(spec_path=spec_path) as server:
        await server.create_guild("Probe Server")
        yield server


@pytest.fixture
def guild(fake: FakeDiscord) -> Guild:
    return next(iter(fake.state.guilds.values()))


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for the raw-protocol tests (websockets and REST)."""
    async with aiohttp.ClientSession() as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(
    fake: FakeDiscord, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotProcess]:
    env = {"DISCORD_TOKEN": "probe-token", "DISCORD_API_BASE_URL": fake.base_url}
    bot = await launch_bot(
        fake,
        ["-m", "tests.fakediscord_selftest.probe_bot"],
        env,
        name="probe bot",
        cwd=tmp_path_factory.mktemp("probe"),
        ready_pattern="probe ready",
        timeout=30,
    )
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture(autouse=True)
def _honest(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test whose bot sent something Discord would refuse."""
    # Asking for the fake here (not after the test) keeps it alive until this check ran.
    fake = request.getfixturevalue("fake") if "fake" in request.fixturenames else None
    yield
    if fake is not None:
        fake.assert_honest()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Show the probe bot's recent output under a failed test."""
    outcome = yield
    report = outcome.get_result()
    bot = getattr(item, "funcargs", {}).get("probe")
    if report.failed and isinstance(bot, BotProcess):
        report.sections.append(("probe bot output", bot.tail(60)))
