"""Shards end to end: the real bot as several processes, or as one, on a sharded fake Discord.

Each test starts its own fake (guilds placed on chosen shards) and its own bot processes,
so this module does not use the shared `bot` fixture. Several processes share one PostgreSQL
database (a cluster needs it: on the SQLite file one process runs at a time), each claiming
its shards there before it identifies. They log at DEBUG, where discord.py prints every
gateway event with its shard, so a test can see which process received an interaction.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from tests.e2e.database import use_postgres
from tests.e2e.realbot import start_real_bot
from tests.fakediscord import (
    BotProcess,
    FakeDiscord,
    Guild,
    InteractionResult,
    bot_environment,
    free_port,
)
from tests.fakediscord.sharding import Shard
from tests.support.postgres import PostgresServer


@asynccontextmanager
async def running(
    fake: FakeDiscord, workdir: Path, processes: Mapping[str, Mapping[str, str]]
) -> AsyncIterator[dict[str, BotProcess]]:
    """Bot processes started side by side (settings by name); each must stop cleanly."""
    started = await asyncio.gather(
        *(start_real_bot(fake, workdir, env, name=name) for name, env in processes.items()),
        return_exceptions=True,
    )
    bots = {name: bot for name, bot in zip(processes, started, strict=True) if not _failed(bot)}
    try:
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        yield bots
    finally:
        codes = {name: await bot.stop() for name, bot in bots.items()}
    assert codes == dict.fromkeys(processes, 0), {n: bots[n].tail() for n in bots}


def _failed(outcome: BotProcess | BaseException) -> bool:
    return isinstance(outcome, BaseException)


def fields(result_embed_fields: Sequence[object]) -> dict[str, str]:
    return {str(getattr(f, "name", "")): str(getattr(f, "value", "")) for f in result_embed_fields}


async def about(fake: FakeDiscord, guild: Guild | None) -> tuple[InteractionResult, dict[str, str]]:
    """Run /about in `guild` (None: in the bot's DMs); the result and the reply's fields."""
    if guild is None:
        result = await fake.invoke("about", user=fake.create_user("dm-user"))
    else:
        result = await fake.invoke("about", member=fake.create_member(guild, "member"))
    reply = await result.final()
    return result, fields(reply.embed.fields)


def saw(bot: BotProcess, result: InteractionResult, shard: int) -> bool:
    """Whether `bot` received this interaction on `shard` (discord.py's DEBUG event log)."""
    marker = f"For Shard ID {shard}: WebSocket Event:"
    return any(marker in line and str(result.id) in line for line in bot.lines)


def received_anywhere(bot: BotProcess, result: InteractionResult) -> bool:
    return any("WebSocket Event:" in line and str(result.id) in line for line in bot.lines)


def session_shards(fake: FakeDiscord) -> list[tuple[int, int]]:
    return sorted((s.shard.id, s.shard.count) for s in fake.gateway.sessions.values())


async def refused_at_start(fake: FakeDiscord, workdir: Path, settings: dict[str, str]) -> str:
    """Start a bot process that must stop at start with exit status 2; its output."""
    env = bot_environment(
        fake.base_url, database_path=workdir / "bot.db", web_port=free_port(), extra=settings
    )
    bot = await BotProcess.start(["-m", "bot"], env, cwd=workdir)
    try:
        code = await asyncio.wait_for(bot.process.wait(), 30)
    finally:
        await bot.stop()
    assert code == 2, bot.tail()
    assert "Traceback" not in bot.output
    return bot.output


async def test_two_processes_split_four_shards_and_each_answers_its_own_servers(
    discord_spec: Path, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.fresh_database()
    use_postgres(tmp_path, url)
    owners = {0: "low", 1: "low", 2: "high", 3: "high"}
    # max_concurrency 4 (Discord grants more than 1 to larger bots): all four shards may
    # identify at once, which keeps this test to a few seconds.
    async with FakeDiscord.serve(spec_path=discord_spec, max_concurrency=4) as fake:
        guilds = {
            shard: [await fake.create_guild(f"S{shard}-{n}", shard=(shard, 4)) for n in range(2)]
            for shard in range(4)
        }
        processes = {
            "low": {"SHARD_COUNT": "4", "SHARD_IDS": "0-1", "LOG_LEVEL": "DEBUG"},
            "high": {"SHARD_COUNT": "4", "SHARD_IDS": "2-3", "LOG_LEVEL": "DEBUG"},
        }
        async with running(fake, tmp_path, processes) as bots:
            assert session_shards(fake) == [(0, 4), (1, 4), (2, 4), (3, 4)]
            await bots["low"].wait_for_line(r"this process runs shards 0-1 of 4 \(count from SHARD")
            await bots["high"].wait_for_line(r"this process runs shards 2-3 of 4")
            for shard in range(4):
                await bots[owners[shard]].wait_for_line(rf"shard {shard} of 4 ready in 2 servers")
            guilds[3].append(await fake.create_guild("Joined later", shard=(3, 4)))

            for shard, its_guilds in guilds.items():
                owner = bots[owners[shard]]
                other = bots["high" if owners[shard] == "low" else "low"]
                for guild in its_guilds:
                    result, shown = await about(fake, guild)
                    assert result.delivered_to == (Shard(shard, 4),)
                    assert shown["Shard"] == f"{shard} of 4 (this server)"
                    expected = "0-1" if owners[shard] == "low" else "2-3"
                    assert shown["This process runs"] == f"2 shards: {expected}"
                    assert saw(owner, result, shard)
                    assert not received_anywhere(other, result)

            result, shown = await about(fake, None)
            assert result.delivered_to == (Shard(0, 4),)
            assert shown["Shard"] == "0 of 4 (direct messages)"
            assert shown["This process runs"] == "2 shards: 0-1"
            assert saw(bots["low"], result, 0)
            assert not received_anywhere(bots["high"], result)

            # The first process to claim found the other's shards unrun, and said so; an
            # admin sees the whole cluster, from either process.
            assert any(
                re.search(r"no live process runs shards (0-1|2-3) of 4 yet", line)
                for bot in bots.values()
                for line in bot.lines
            )
            for guild in (guilds[0][0], guilds[3][0]):
                admin = fake.create_member(guild, "admin", manage_guild=True)
                reply = await (await fake.invoke("about", member=admin)).final()
                shown = fields(reply.embed.fields)
                assert shown["Shards of all processes (admins)"] == "2 processes run 4 of 4 shards."

            sessions_before = session_shards(fake)
            output = await refused_at_start(
                fake, tmp_path, {"SHARD_COUNT": "4", "SHARD_IDS": "1-2", "DATABASE_URL": url}
            )
            low, high = (bots[name].process.pid for name in ("low", "high"))
            assert "The bot cannot start: the shards it would run are taken: shard 1 of 4" in output
            assert re.search(
                rf"shard 1 of 4 already run in process \d+ on .+ \(pid {low}\)", output
            )
            assert re.search(
                rf"shard 2 of 4 already run in process \d+ on .+ \(pid {high}\)", output
            )
            output = await refused_at_start(
                fake, tmp_path, {"SHARD_COUNT": "8", "SHARD_IDS": "4-7", "DATABASE_URL": url}
            )
            assert "runs SHARD_COUNT=4, this one 8; every process" in output
            assert session_shards(fake) == sessions_before  # neither identified
        fake.assert_honest()
    postgres_server.drop(url)


async def test_without_shard_count_one_process_runs_the_shards_discord_recommends(
    discord_spec: Path, tmp_path: Path
) -> None:
    async with FakeDiscord.serve(spec_path=discord_spec, max_concurrency=2) as fake:
        fake.add_guilds_quietly(1000)
        marked = [
            await fake.create_guild(f"On shard {shard}", shard=(shard, 2)) for shard in (0, 1)
        ]
        async with running(fake, tmp_path, {"solo": {}}) as bots:
            assert session_shards(fake) == [(0, 2), (1, 2)]
            await bots["solo"].wait_for_line(
                r"this process runs shards 0-1 of 2 \(count from Discord's recommendation"
            )
            await bots["solo"].wait_for_line(r"ready as .* in 1002 servers on shards 0-1 of 2")
            for shard, guild in enumerate(marked):
                result, shown = await about(fake, guild)
                assert result.delivered_to == (Shard(shard, 2),)
                assert shown["Shard"] == f"{shard} of 2 (this server)"
                assert shown["This process runs"] == "2 shards: 0-1"
        fake.assert_honest()


async def test_a_shard_over_2500_servers_stops_the_bot_with_advice(
    discord_spec: Path, tmp_path: Path
) -> None:
    """Discord closes such a shard with 4011; the operator learns what to change."""
    async with FakeDiscord.serve(spec_path=discord_spec) as fake:
        fake.add_guilds_quietly(2501)
        output = await refused_at_start(fake, tmp_path, {"SHARD_COUNT": "1"})
        assert "Discord closed shard 0: it would carry more than 2,500 servers" in output
        assert "Raise SHARD_COUNT" in output
        assert not fake.gateway.sessions


async def test_on_the_sqlite_file_a_newer_process_takes_the_shards_and_the_older_stops(
    discord_spec: Path, tmp_path: Path
) -> None:
    """One process at a time on the SQLite file: the newcomer counts the running one as
    dead and claims its shard; the older finds its claim gone at its next check and stops
    (exit 1) instead of answering every command a second time."""
    async with FakeDiscord.serve(spec_path=discord_spec) as fake:
        guild = await fake.create_guild("Only Server")
        older = await start_real_bot(fake, tmp_path, name="older")
        newer: BotProcess | None = None
        try:
            newer = await start_real_bot(fake, tmp_path, name="newer")
            code = await asyncio.wait_for(older.process.wait(), 30)
            assert code == 1, older.tail()
            assert "Traceback" not in older.output
            assert (
                "The bot stopped: another process has taken shard 0, having counted this one "
                "as dead" in older.output
            )
            _, shown = await about(fake, guild)  # the newer process answers
            assert shown["This process runs"] == "1 shard: 0"
        finally:
            await older.stop()
            if newer is not None:
                assert await newer.stop() == 0, newer.tail()
