"""A web-only process (BOT_ROLE=web) beside a bot process, on one PostgreSQL database.

The bot process issues the join link; the web process, which has no Discord connection and
no Discord token, serves the page and redeems the code; the code is then used up for every
process. PostgreSQL only: a web process needs the database the bot processes share.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bot.runway.sandbox import Sandbox
from tests.e2e.conftest import runway_settings
from tests.e2e.database import database_settings, rows
from tests.e2e.session_steps import Browser, start_session
from tests.fakediscord import BotProcess, FakeDiscord, Member, bot_environment, free_port

WEB_READY = r"web-only process: serving join pages without a Discord connection"


@pytest.fixture(scope="module")
def e2e_engine() -> str:
    return "postgres"


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@pytest.fixture(scope="module")
def web_port() -> int:
    return free_port()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def web(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    runway: Sandbox,
    bot_workdir: Path,
    web_port: int,
) -> AsyncIterator[BotProcess]:
    """`python -m bot` with BOT_ROLE=web on the bot's database, without a Discord token."""
    env = bot_environment(
        fake_discord.base_url,
        database_path=bot_workdir / "unused.db",
        web_port=web_port,
        extra={
            **runway_settings(runway, web_port),
            **database_settings(bot_workdir),
            "BOT_ROLE": "web",
        },
    )
    for name in ("DISCORD_TOKEN", "PUBLIC_URL", "DISCORD_API_BASE_URL"):
        env.pop(name)
    process = await BotProcess.start(["-m", "bot"], env, cwd=bot_workdir)
    try:
        await process.wait_for_line(WEB_READY)
        yield process
    finally:
        code = await process.stop()
    assert code == 0, process.tail()
    assert "Traceback" not in process.output


async def test_a_web_process_redeems_a_code_the_bot_process_issued(
    fake_discord: FakeDiscord,
    web: BotProcess,
    member: Member,
    bot_web_port: int,
    web_port: int,
    bot_workdir: Path,
) -> None:
    started = await start_session(fake_discord, member)
    on_web, on_bot = Browser(web_port), Browser(bot_web_port)
    try:
        page = await on_web.open(started.code)
        assert page.status_code == 200
        credentials = await on_web.join(started.code)
        assert credentials.status_code == 200, credentials.text
        assert credentials.json()["token"]
        # Used up for every process: the bot's own server refuses it now.
        again = await on_bot.join(started.code, hesitate=0)
        assert (again.status_code, again.json()["state"]) == (404, "used_elsewhere")
    finally:
        await on_web.aclose()
        await on_bot.aclose()
    (session,) = rows(
        bot_workdir,
        "SELECT state, consumed_at FROM sessions WHERE member_id = ?",
        (member.user.id,),
    )
    assert session["state"] == "OPEN"
    assert session["consumed_at"] is not None
    # The web process has no gateway connection: the fake holds the bot process's alone.
    assert len(fake_discord.gateway.sessions) == 1


async def test_health_and_the_process_table_name_each_role(
    web: BotProcess, bot_web_port: int, web_port: int, bot_workdir: Path
) -> None:
    async with httpx.AsyncClient() as client:
        for port, role in ((web_port, "web"), (bot_web_port, "all")):
            health = await client.get(f"http://127.0.0.1:{port}/healthz")
            assert health.json() == {"status": "ok", "role": role}
    live = rows(
        bot_workdir,
        "SELECT role, pid FROM processes WHERE stopped_at IS NULL ORDER BY id",
    )
    assert {(row["role"], row["pid"]) for row in live} >= {("web", web.process.pid)}
    assert "all" in {row["role"] for row in live}
