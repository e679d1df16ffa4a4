"""The fake's Discord protocol, driven by a raw client: the rules a library never breaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.fakediscord import FakeDiscord
from tests.fakediscord_selftest.rawclient import BOT_AUTH, RawGateway, api, connect, register_ping


@pytest_asyncio.fixture
async def fake(spec_path: Path) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord.serve(spec_path=spec_path, token="raw-token") as server:
        await server.create_guild("Raw Server")
        yield server


async def _online(fake: FakeDiscord, session: aiohttp.ClientSession) -> RawGateway:
    """Connected, identified, with /ping registered globally."""
    gateway = await connect(session, fake)
    await gateway.identify()
    await register_ping(session, fake)
    return gateway


async def _interaction(fake: FakeDiscord, gateway: RawGateway):  # type: ignore[no-untyped-def]
    guild = next(iter(fake.state.guilds.values()))
    result = await fake.invoke("ping", member=fake.create_member(guild, "raw"))
    created = await gateway.until("INTERACTION_CREATE")
    assert created["d"]["id"] == str(result.id)
    return result, created["d"]


async def test_handshake_speaks_zlib_stream_and_sends_ready_then_guilds(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await connect(session, fake)
    await gateway.send(1, None)
    assert (await gateway.receive())["op"] == 11
    ready = await gateway.identify()
    assert ready["d"]["guilds"] == [{"id": str(g), "unavailable": True} for g in fake.state.guilds]
    assert ready["d"]["resume_gateway_url"].startswith("ws://127.0.0.1:")
    guild_create = await gateway.until("GUILD_CREATE")
    assert guild_create["d"]["members"][0]["user"]["id"] == str(fake.bot_user.id)
    await fake.wait_until_ready(1)


async def test_uncompressed_connections_work_too(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await connect(session, fake, compress=False)
    assert (await gateway.identify())["t"] == "READY"


async def test_privileged_intents_are_refused_with_4014(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await connect(session, fake)
    closed = await gateway.identify(intents=1 | (1 << 15))
    assert closed["code"] == 4014


async def test_a_wrong_token_is_refused_with_4004(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await connect(session, fake)
    assert (await gateway.identify(token="wrong"))["code"] == 4004


async def test_resume_replays_what_was_missed(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await connect(session, fake)
    ready = await gateway.identify()
    await gateway.until("GUILD_CREATE")
    seen = gateway.sequence
    await gateway.ws.close()
    await asyncio.sleep(0.05)
    await fake.create_role(next(iter(fake.state.guilds.values())), "Missed")
    again = await connect(session, fake)
    await again.send(6, {"token": "raw-token", "session_id": ready["d"]["session_id"], "seq": seen})
    assert (await again.receive())["t"] == "GUILD_ROLE_CREATE"
    assert (await again.receive())["t"] == "RESUMED"


async def test_an_unknown_session_cannot_resume(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await connect(session, fake)
    await gateway.send(6, {"token": "raw-token", "session_id": "nope", "seq": 1})
    assert (await gateway.receive()) == {"op": 9, "d": False}


async def test_a_second_acknowledgement_gets_40060(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await _online(fake, session)
    result, data = await _interaction(fake, gateway)
    url = api(fake, f"/interactions/{data['id']}/{data['token']}/callback")
    async with session.post(url, json={"type": 4, "data": {"content": "one"}}) as first:
        assert first.status == 204
    async with session.post(url, json={"type": 4, "data": {"content": "two"}}) as second:
        assert second.status == 400
        assert (await second.json())["code"] == 40060
    assert (await result.final()).content == "one"
    assert [r.code for r in result.rejections] == [40060]


async def test_an_acknowledgement_after_the_deadline_gets_10062(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    fake.state.ack_deadline = 0.1
    gateway = await _online(fake, session)
    result, data = await _interaction(fake, gateway)
    await asyncio.sleep(0.15)
    url = api(fake, f"/interactions/{data['id']}/{data['token']}/callback")
    async with session.post(url, json={"type": 5}) as response:
        assert response.status == 404
        assert await response.json() == {"message": "Unknown interaction", "code": 10062}
    with pytest.raises(AssertionError, match="refused"):
        await result.ack()


async def test_a_silent_bot_fails_the_acknowledgement(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    fake.state.ack_deadline = 0.1
    result, _ = await _interaction(fake, await _online(fake, session))
    with pytest.raises(AssertionError, match="did not respond"):
        await result.ack()


async def test_followups_stop_when_the_token_expires(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    gateway = await _online(fake, session)
    result, data = await _interaction(fake, gateway)
    callback = api(fake, f"/interactions/{data['id']}/{data['token']}/callback")
    async with session.post(callback, json={"type": 5}) as response:
        assert response.status == 204
    followup = api(fake, f"/webhooks/{fake.application_id}/{data['token']}?wait=true")
    async with session.post(followup, json={"content": "in time"}) as response:
        assert response.status == 200
        assert (await response.json())["id"] == str((await result.original()).id)
    result.expire_token()
    async with session.post(followup, json={"content": "too late"}) as response:
        assert response.status == 401
        assert (await response.json())["code"] == 50027


async def test_replies_carry_rate_limit_headers_and_an_injected_429(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    async with session.get(api(fake, "/users/@me"), headers=BOT_AUTH) as response:
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Via"]
        assert int(response.headers["X-RateLimit-Remaining"]) == 49
        assert response.headers["X-RateLimit-Bucket"]
    fake.inject_rate_limit("GET", "/users/@me", retry_after=1.5, scope="shared")
    async with session.get(api(fake, "/users/@me"), headers=BOT_AUTH) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "2"
        assert response.headers["X-RateLimit-Scope"] == "shared"
        body = await response.json()
        assert body["retry_after"] == 1.5
        assert body["global"] is False
    async with session.get(api(fake, "/users/@me"), headers=BOT_AUTH) as response:
        assert response.status == 200


async def test_requests_outside_discords_api_are_violations(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    async with session.get(api(fake, "/users/@me/avatars"), headers=BOT_AUTH) as response:
        assert response.status == 404
    async with session.put(api(fake, "/users/@me"), headers=BOT_AUTH) as response:
        assert response.status == 404
    async with session.get(api(fake, "/users/not-a-snowflake"), headers=BOT_AUTH) as response:
        assert response.status == 404
    async with session.get(api(fake, "/users/@me")) as response:
        assert response.status == 401
    reasons = [v.problems[0] for v in fake.take_violations()]
    assert "is not a route of Discord's API" in reasons[0]
    assert "it allows GET, PATCH" in reasons[1]
    assert "does not match" in reasons[2]
    assert "Authorization" in reasons[3]


async def test_an_invalid_body_is_refused_with_50035_and_the_schema_error(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    url = api(fake, f"/applications/{fake.application_id}/commands")
    bad = [{"name": "x" * 40, "description": "d", "type": 1}]
    async with session.put(url, json=bad, headers=BOT_AUTH) as response:
        assert response.status == 400
        body = await response.json()
        assert body["code"] == 50035
    (violation,) = fake.take_violations()
    assert violation.template == "/applications/{application_id}/commands"
    assert violation.problems == (
        "$[0].name: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' has length 40; at most 32 allowed",
    )


async def test_a_real_route_the_fake_lacks_is_a_harness_gap(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    async with session.get(api(fake, "/users/@me/guilds"), headers=BOT_AUTH) as response:
        assert response.status == 501
    assert fake.fake_problems == ["the fake does not emulate GET /users/@me/guilds"]
    fake.state.fake_problems.clear()


async def test_an_empty_message_is_refused(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    channel = next(iter(fake.state.guilds.values())).text_channel
    url = api(fake, f"/channels/{channel.id}/messages")
    async with session.post(url, json={"content": ""}, headers=BOT_AUTH) as response:
        assert response.status == 400
    assert "empty message" in fake.take_violations()[0].problems[0]


async def test_dms_to_a_closed_member_get_50007(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    user = fake.create_user("shy", dms_open=False)
    url = api(fake, "/users/@me/channels")
    async with session.post(url, json={"recipient_id": str(user.id)}, headers=BOT_AUTH) as response:
        channel = await response.json()
    url = api(fake, f"/channels/{channel['id']}/messages")
    async with session.post(url, json={"content": "hi"}, headers=BOT_AUTH) as response:
        assert response.status == 403
        assert await response.json() == {
            "message": "Cannot send messages to this user",
            "code": 50007,
        }
