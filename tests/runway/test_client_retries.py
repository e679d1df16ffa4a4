"""What the client retries, and above all what it never sends twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from socket import socket

import httpx
import pytest
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.errors import (
    ProtocolError,
    RateLimitedError,
    RunwayTimeoutError,
    UnavailableError,
)
from bot.runway.models import AvatarSpec, PresetAvatar, SessionSpec
from bot.runway.retry import RetryPolicy
from bot.runway.sandbox import Sandbox
from tests.runway.conftest import SANDBOX_KEY

RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=2)
SESSION = SessionSpec(avatar=PresetAvatar(preset_id="influencer"), max_seconds=60)
AVATAR = AvatarSpec(
    name="Nova",
    reference_image="https://images.example.org/nova.png",
    personality="Cheerful guide.",
    voice_preset="luna",
)
SESSIONS = "/v1/realtime_sessions"
AVATARS = "/v1/avatars"
AVATAR_ITEM = "/v1/avatars/{id}"


@pytest.fixture
async def client(production_sandbox: Sandbox) -> AsyncIterator[RunwayClient]:
    async with RunwayClient(
        base_url=production_sandbox.base_url,
        api_key=SecretStr(SANDBOX_KEY),
        retry=RETRY,
        timeout=httpx.Timeout(0.5),
        create_read_seconds=0.5,
    ) as runway:
        yield runway


async def test_post_after_read_timeout_is_not_sent_twice(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    production_sandbox.inject(
        method="POST", route=SESSIONS, latency=1.5, before_handler=False, times=1
    )
    with pytest.raises(RunwayTimeoutError) as caught:
        await client.create_session(SESSION)
    assert caught.value.uncertain  # Runway may have made it: only a listing can tell
    assert production_sandbox.requests("POST", SESSIONS) == 1
    assert production_sandbox.handled("POST", SESSIONS) == 1


async def test_billable_creates_wait_longer_than_other_calls(
    production_sandbox: Sandbox,
) -> None:
    """A create Runway answers after 1 s succeeds with a 0.3 s read timeout for the rest."""
    production_sandbox.inject(method="POST", route=AVATARS, latency=1.0, before_handler=False)
    async with RunwayClient(
        base_url=production_sandbox.base_url,
        api_key=SecretStr(SANDBOX_KEY),
        retry=RETRY,
        timeout=httpx.Timeout(0.3),
        create_read_seconds=3.0,
    ) as runway:
        avatar = await runway.create_avatar(AVATAR)
        production_sandbox.inject(method="GET", route=AVATAR_ITEM, latency=1.0, times=3)
        with pytest.raises(RunwayTimeoutError):
            await runway.get_avatar(avatar.id)
    assert production_sandbox.handled("POST", AVATARS) == 1


async def test_post_after_dropped_connection_is_not_sent_twice(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    production_sandbox.inject(method="POST", route=AVATARS, drop=True, before_handler=False)
    with pytest.raises(UnavailableError) as caught:
        await client.create_avatar(AVATAR)
    assert caught.value.uncertain
    assert production_sandbox.requests("POST", AVATARS) == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_post_refused_before_processing_is_retried(
    client: RunwayClient, production_sandbox: Sandbox, status: int
) -> None:
    production_sandbox.inject(method="POST", route=SESSIONS, status=status, retry_after=0, times=1)
    created = await client.create_session(SESSION)
    assert created.id
    assert production_sandbox.requests("POST", SESSIONS) == 2
    assert production_sandbox.handled("POST", SESSIONS) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_post_after_server_error_is_not_retried(
    client: RunwayClient, production_sandbox: Sandbox, status: int
) -> None:
    production_sandbox.inject(method="POST", route=SESSIONS, status=status, times=1)
    with pytest.raises(UnavailableError):
        await client.create_session(SESSION)
    assert production_sandbox.requests("POST", SESSIONS) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_get_is_retried_on_transient_status(
    client: RunwayClient, production_sandbox: Sandbox, status: int
) -> None:
    avatar = await client.create_avatar(AVATAR)
    production_sandbox.inject(method="GET", route=AVATAR_ITEM, status=status, times=2)
    assert (await client.get_avatar(avatar.id)).id == avatar.id
    assert production_sandbox.requests("GET", AVATAR_ITEM) == 3


async def test_get_gives_up_after_the_last_attempt(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    avatar = await client.create_avatar(AVATAR)
    production_sandbox.inject(method="GET", route=AVATAR_ITEM, status=503, times=10)
    with pytest.raises(UnavailableError):
        await client.get_avatar(avatar.id)
    assert production_sandbox.requests("GET", AVATAR_ITEM) == RETRY.attempts


async def test_get_is_retried_after_timeout_and_dropped_connection(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    avatar = await client.create_avatar(AVATAR)
    production_sandbox.inject(method="GET", route=AVATAR_ITEM, latency=1.5, times=1)
    production_sandbox.inject(method="GET", route=AVATAR_ITEM, drop=True, times=1)
    assert (await client.get_avatar(avatar.id)).id == avatar.id
    assert production_sandbox.requests("GET", AVATAR_ITEM) == 3


async def test_delete_is_retried(client: RunwayClient, production_sandbox: Sandbox) -> None:
    document = await client.create_document("Notes", "Some text.")
    production_sandbox.inject(method="DELETE", route="/v1/documents/{id}", status=502, times=1)
    await client.delete_document(document.id)
    assert production_sandbox.requests("DELETE", "/v1/documents/{id}") == 2


async def test_long_retry_after_is_reported_not_waited(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    production_sandbox.inject(method="POST", route=SESSIONS, status=429, retry_after=120, times=1)
    with pytest.raises(RateLimitedError) as caught:
        await client.create_session(SESSION)
    assert caught.value.retry_after == pytest.approx(120, abs=1)
    assert production_sandbox.requests("POST", SESSIONS) == 1


async def test_org_concurrency_limit_is_rate_limited(production_sandbox: Sandbox) -> None:
    production_sandbox.config.max_concurrent_sessions = 1
    async with RunwayClient(
        base_url=production_sandbox.base_url,
        api_key=SecretStr(SANDBOX_KEY),
        retry=RetryPolicy(attempts=1),
    ) as runway:
        await runway.create_session(SESSION)
        with pytest.raises(RateLimitedError) as caught:
            await runway.create_session(SESSION)
    assert "limit" in caught.value.user_message.lower()
    assert caught.value.concurrency  # a place frees when a call ends: worth waiting in line
    production_sandbox.inject(
        method="POST", route=SESSIONS, status=429, body={"error": "Daily limit reached."}
    )
    async with RunwayClient(
        base_url=production_sandbox.base_url,
        api_key=SecretStr(SANDBOX_KEY),
        retry=RetryPolicy(attempts=1),
    ) as runway:
        with pytest.raises(RateLimitedError) as daily:
            await runway.create_session(SESSION)
    assert not daily.value.concurrency


async def test_unreachable_runway_is_unavailable() -> None:
    with socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RunwayClient(
        base_url=f"http://127.0.0.1:{port}", api_key=SecretStr(SANDBOX_KEY), retry=RETRY
    ) as runway:
        with pytest.raises(UnavailableError):
            await runway.create_session(SESSION)


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"id": 12}', "[1, 2]"])
async def test_malformed_answer_is_a_protocol_error(
    client: RunwayClient, production_sandbox: Sandbox, body: str
) -> None:
    avatar = await client.create_avatar(AVATAR)
    production_sandbox.inject(method="GET", route=AVATAR_ITEM, status=200, body=body, times=1)
    with pytest.raises(ProtocolError):
        await client.get_avatar(avatar.id)
