"""The fake's sharded gateway, driven by raw clients: Discord's rules for shards.

Source for every rule here: Discord's docs, "Gateway > Sharding" and "Get Gateway Bot"
(https://discord.com/developers/docs/events/gateway#sharding) and the close-code table in
"Opcodes and Status Codes" (4010 Invalid shard, 4011 Sharding required, 4005 Already
authenticated).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.fakediscord import FakeDiscord, Guild
from tests.fakediscord.ids import Snowflakes
from tests.fakediscord.sharding import Shard
from tests.fakediscord_selftest.rawclient import BOT_AUTH, RawGateway, api, connect, register_ping


@pytest_asyncio.fixture
async def fake(spec_path: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord.serve(spec_path=spec_path, token="raw-token", max_concurrency=4) as f:
        yield f


async def _guild_creates(gateway: RawGateway, count: int) -> set[str]:
    return {(await gateway.until("GUILD_CREATE"))["d"]["id"] for _ in range(count)}


def _ids(guilds: list[Guild]) -> set[str]:
    return {str(guild.id) for guild in guilds}


async def _gateway_bot(session: aiohttp.ClientSession, fake: FakeDiscord) -> dict[str, Any]:
    async with session.get(api(fake, "/gateway/bot"), headers=BOT_AUTH) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


def test_ids_can_be_made_for_a_chosen_shard() -> None:
    ids = Snowflakes()
    # Several shards, then the same shard thrice (the same millisecond), then a plain id.
    wanted = [(shard, count) for count in (1, 2, 3, 5) for shard in range(count)] + [(1, 2)] * 3
    made = [ids.next_on_shard(shard, count) for shard, count in wanted] + [ids.next()]
    assert made == sorted(set(made)), "ids only grow"
    routed = [(guild_id >> 22) % count for guild_id, (_, count) in zip(made, wanted, strict=False)]
    assert routed == [shard for shard, _ in wanted]


async def test_each_shard_gets_ready_with_its_own_guilds_only(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    on_zero = [await fake.create_guild(f"Even {n}", shard=(0, 2)) for n in range(2)]
    on_one = [await fake.create_guild(f"Odd {n}", shard=(1, 2)) for n in range(3)]
    zero, one = await connect(session, fake), await connect(session, fake)
    ready_zero = await zero.identify(shard=[0, 2])
    ready_one = await one.identify(shard=[1, 2])
    assert ready_zero["d"]["shard"] == [0, 2]
    assert ready_one["d"]["shard"] == [1, 2]
    assert {g["id"] for g in ready_zero["d"]["guilds"]} == _ids(on_zero)
    assert {g["id"] for g in ready_one["d"]["guilds"]} == _ids(on_one)
    assert await _guild_creates(zero, 2) == _ids(on_zero)
    assert await _guild_creates(one, 3) == _ids(on_one)
    assert sorted((s.shard.id, s.shard.count) for s in fake.gateway.sessions.values()) == [
        (0, 2),
        (1, 2),
    ]


async def test_events_go_to_their_guilds_shard_and_dms_to_shard_0(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    zero, one = await connect(session, fake), await connect(session, fake)
    await zero.identify(shard=[0, 2])
    await one.identify(shard=[1, 2])
    await register_ping(session, fake)

    late = await fake.create_guild("Late", shard=(1, 2))
    assert (await one.until("GUILD_CREATE"))["d"]["id"] == str(late.id)
    await fake.create_role(late, "Moderators")
    assert (await one.until("GUILD_ROLE_CREATE"))["d"]["guild_id"] == str(late.id)

    in_guild = await fake.invoke("ping", member=fake.create_member(late, "ann"))
    assert in_guild.delivered_to == (Shard(1, 2),)
    assert (await one.until("INTERACTION_CREATE"))["d"]["id"] == str(in_guild.id)

    in_dm = await fake.invoke("ping", user=fake.create_user("bea"))
    assert in_dm.delivered_to == (Shard(0, 2),)
    created = await zero.until("INTERACTION_CREATE")
    assert created["d"]["id"] == str(in_dm.id)
    # Shard 0 saw nothing else: READY, then this one interaction.
    assert zero.sequence == 2


async def test_a_session_without_shard_is_shard_0_of_1_and_gets_everything(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    guilds = [await fake.create_guild(f"G{n}", shard=(n, 3)) for n in range(3)]
    gateway = await connect(session, fake)
    ready = await gateway.identify()
    assert "shard" not in ready["d"]
    assert await _guild_creates(gateway, 3) == _ids(guilds)
    assert fake.identity is not None
    assert fake.identity.shard == Shard(0, 1)


@pytest.mark.parametrize(
    "shard",
    [[2, 2], [5, 2], [-1, 2], [0, 0], [0, -1], [0], [0, 1, 2], "0,1", [True, 2], [0.0, 2], {}],
)
async def test_an_invalid_shard_is_closed_with_4010(
    fake: FakeDiscord, session: aiohttp.ClientSession, shard: Any
) -> None:
    gateway = await connect(session, fake)
    closed = await gateway.identify(shard=shard)
    assert closed.get("code") == 4010, closed
    assert not fake.gateway.sessions


async def test_a_session_of_more_than_2500_guilds_is_closed_with_4011(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    for n in range(2501):
        fake.state.new_guild(f"G{n}", guild_id=fake.state.ids.next_on_shard(n % 2, 2))
    assert (await _gateway_bot(session, fake))["shards"] == 3
    assert (await (await connect(session, fake)).identify()).get("code") == 4011
    assert (await (await connect(session, fake)).identify(shard=[0, 1])).get("code") == 4011
    ready = await (await connect(session, fake)).identify(intents=0, shard=[1, 2])
    assert len(ready["d"]["guilds"]) == 1250


async def test_two_sessions_of_one_shard_both_receive_its_events(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    """Discord: "You can establish multiple sessions with the same [shard_id, num_shards]".
    It closes neither; each gets the events, so overlapping processes both answer."""
    guild = await fake.create_guild("Shared", shard=(1, 2))
    first, second = await connect(session, fake), await connect(session, fake)
    await first.identify(shard=[1, 2])
    await second.identify(shard=[1, 2])
    await register_ping(session, fake)
    result = await fake.invoke("ping", member=fake.create_member(guild, "cy"))
    assert result.delivered_to == (Shard(1, 2), Shard(1, 2))
    for gateway in (first, second):
        assert (await gateway.until("INTERACTION_CREATE"))["d"]["id"] == str(result.id)
    assert not first.ws.closed


async def test_a_second_identify_on_one_connection_is_closed_with_4005(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await connect(session, fake)
    await gateway.identify(shard=[0, 2])
    assert (await gateway.identify(shard=[1, 2])).get("code") == 4005


async def test_gateway_bot_recommends_a_shard_per_thousand_guilds_and_the_start_limit(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    empty = await _gateway_bot(session, fake)
    assert empty["shards"] == 1
    assert empty["url"].startswith("ws://127.0.0.1:")
    limit = empty["session_start_limit"]
    assert limit["max_concurrency"] == 4
    assert limit["total"] == 1000
    assert limit["remaining"] == 1000
    assert limit["reset_after"] > 0

    await (await connect(session, fake)).identify(intents=0, shard=[0, 2])
    fake.add_guilds_quietly(1000)
    again = await _gateway_bot(session, fake)
    assert again["shards"] == 1
    assert again["session_start_limit"]["remaining"] == 999
    fake.add_guilds_quietly(1)
    assert (await _gateway_bot(session, fake))["shards"] == 2
