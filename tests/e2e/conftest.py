"""End-to-end fixtures: the real bot (`python -m bot`) against a fake Discord and the sandbox.

Per test module, one fake Discord and one bot process (starting the bot takes a few
seconds, so tests in a module share it); per test, a fresh guild with fresh members, so
tests do not see each other's servers. The bot runs exactly as deployed, configured only
through its environment (`RUNWAY_SANDBOX=true`, `DISCORD_API_BASE_URL=<fake>`, a scratch
database and web port) from a scratch working directory, so a developer's `.env` and
`data/` never leak in. Every test that uses the fake fails if the bot sent a REST request
Discord would refuse.

A module can change the bot's settings by overriding `bot_settings`, e.g. to sync to a
dev guild: ``def bot_settings(fake_discord): return {"DEV_GUILD_ID": ...}``.

What the tests assume about the bot is kept in `realbot.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest
import pytest_asyncio
from pytest_asyncio import is_async_test

from bot.runway.sandbox import Sandbox
from tests.conftest import ENGINES
from tests.e2e.avatar_steps import avatar_id, create_avatar
from tests.e2e.database import use_postgres
from tests.e2e.realbot import start_real_bot
from tests.fakediscord import BotProcess, FakeDiscord, Guild, Member, free_port
from tests.fakediscord.reference import DISCORD_OPENAPI_FILE
from tests.runway.conftest import SANDBOX_KEY, fast_config
from tests.support.postgres import PostgresServer
from tests.support.reference import reference_file

E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every async e2e test in its module's event loop, where the shared bot lives."""
    for item in items:
        if is_async_test(item) and E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.asyncio(loop_scope="module"), append=False)


@pytest.fixture(scope="session")
def discord_spec() -> Path:
    """Discord's OpenAPI description; end-to-end tests skip without it."""
    return reference_file(DISCORD_OPENAPI_FILE)


@pytest.fixture(scope="module", params=ENGINES)
def e2e_engine(request: pytest.FixtureRequest) -> str:
    """Each module's bot runs on each engine in turn (a fresh fake Discord for each)."""
    return str(request.param)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake_discord(discord_spec: Path, e2e_engine: str) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord.serve(spec_path=discord_spec) as fake:
        await fake.create_guild("Home Server")
        yield fake


@pytest.fixture(scope="module")
def bot_settings() -> Mapping[str, str]:
    """Extra environment for the bot; override in a module to change its settings.

    To drive Runway from the test (faults, ending sessions), a module overrides it as
    ``def bot_settings(runway, bot_web_port): return runway_settings(runway, bot_web_port)``
    so the bot talks to the `runway` sandbox in this process instead of its own.
    """
    return {}


@pytest.fixture
def database(bot_workdir: Path) -> Path:
    """The bot's working directory, whose database (`tests.e2e.database`) tests look into."""
    return bot_workdir


@pytest.fixture(scope="module")
def runway_dialect() -> str:
    """The dialect of the `runway` sandbox; override in a module for "seed"."""
    return "production"


@pytest.fixture(scope="module")
def runway_key() -> str:
    """The API key of the `runway` sandbox; override in a module for a distinctive one."""
    return SANDBOX_KEY


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runway(runway_dialect: str, runway_key: str, e2e_engine: str) -> AsyncIterator[Sandbox]:
    """A Runway sandbox in the test process, reachable by the bot over loopback HTTP; a fresh
    one for each engine's bot, so neither finds the other's objects at Runway."""
    sandbox = Sandbox(dialect=runway_dialect, api_key=runway_key, config=fast_config())
    async with sandbox.serve(host="127.0.0.1", port=0):
        yield sandbox


@pytest.fixture(scope="module")
def bot_web_port() -> int:
    return free_port()


def runway_settings(runway: Sandbox, web_port: int) -> dict[str, str]:
    """Settings that make the bot a live deployment whose "Runway" is `runway`."""
    return {
        "RUNWAY_SANDBOX": "false",
        "RUNWAY_BASE_URL": runway.base_url,
        "RUNWAYML_API_SECRET": runway.api_key,
        "RUNWAY_API_DIALECT": runway.dialect.value,
        "WEB_PORT": str(web_port),
        "PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "LIVEKIT_ORIGINS": runway.config.livekit_url,
        # Short, so a lost answer is looked for and settled within a test's patience.
        "RUNWAY_CREATE_TIMEOUT_SECONDS": "6",
    }


@pytest.fixture(scope="module")
def bot_workdir(
    tmp_path_factory: pytest.TempPathFactory, e2e_engine: str, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """The bot's working directory; on PostgreSQL, also a fresh database for the module."""
    workdir = tmp_path_factory.mktemp("bot")
    if e2e_engine == "sqlite":
        yield workdir
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.fresh_database()
    use_postgres(workdir, url)
    yield workdir
    server.drop(url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    fake_discord: FakeDiscord, bot_settings: Mapping[str, str], bot_workdir: Path
) -> AsyncIterator[BotProcess]:
    """The real bot, connected and ready. Fails at teardown unless it stops cleanly."""
    process = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    yield process
    code = await process.stop()
    assert code == 0, f"the bot exited with {code} on SIGTERM:\n{process.tail()}"


@pytest_asyncio.fixture(loop_scope="module")
async def guild(fake_discord: FakeDiscord, bot: BotProcess) -> Guild:
    """A fresh server for this test, announced to the running bot.

    It has no system channel, so the bot's welcome (see test_welcome.py) stays out of the
    channel other tests read.
    """
    return await fake_discord.create_guild("Test Server", system_channel=False)


@pytest.fixture
def member(fake_discord: FakeDiscord, guild: Guild) -> Member:
    """A member without Manage Server."""
    return fake_discord.create_member(guild, "member")


@pytest.fixture
def admin(fake_discord: FakeDiscord, guild: Guild) -> Member:
    """A member with Manage Server."""
    return fake_discord.create_member(guild, "admin", manage_guild=True)


@pytest_asyncio.fixture(loop_scope="module")
async def mia(fake_discord: FakeDiscord, bot: BotProcess, admin: Member) -> str:
    """An avatar called Mia in the test's server; its option value."""
    await create_avatar(fake_discord, admin, "Mia")
    return await avatar_id(fake_discord, admin, "Mia")


@pytest.fixture(autouse=True)
def _honest_rest_calls(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test whose bot sent something Discord would refuse (or hit a gap in the fake)."""
    fake = (
        request.getfixturevalue("fake_discord") if "fake_discord" in request.fixturenames else None
    )
    yield
    if fake is not None:
        fake.assert_honest()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Show the bot's recent output under a failed e2e test."""
    outcome = yield
    report = outcome.get_result()
    process = getattr(item, "funcargs", {}).get("bot")
    if report.failed and isinstance(process, BotProcess):
        report.sections.append(("bot output (last 80 lines)", process.tail(80)))
