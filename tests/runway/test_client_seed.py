"""The client speaking the seed description: same interface, smaller API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.errors import BadRequestError, NotFoundError, NotSupportedError
from bot.runway.models import (
    AvatarChanges,
    AvatarSpec,
    AvatarStatus,
    CustomAvatar,
    PresetAvatar,
    SessionSpec,
)
from bot.runway.retry import RetryPolicy
from bot.runway.sandbox import Sandbox
from bot.settings import Dialect
from tests.runway.conftest import SANDBOX_KEY
from tests.runway.wire import Wire, record_wire

SPEC = AvatarSpec(
    name="Bard",
    reference_image="https://images.example.org/bard.png",
    personality="You speak in rhyme.",
    voice_preset="any-voice-the-seed-accepts",
    start_script="Well met!",
)


@pytest.fixture
async def wired(seed_sandbox: Sandbox) -> AsyncIterator[tuple[RunwayClient, Wire]]:
    async with RunwayClient(
        base_url=seed_sandbox.base_url,
        api_key=SecretStr(SANDBOX_KEY),
        dialect=Dialect.SEED,
        retry=RetryPolicy(attempts=2, base_delay=0.01),
    ) as runway:
        wire = record_wire(runway, Dialect.SEED)
        yield runway, wire
        wire.assert_clean()


@pytest.fixture
def client(wired: tuple[RunwayClient, Wire]) -> RunwayClient:
    return wired[0]


async def test_avatar_is_ready_at_once_and_completed_from_the_spec(client: RunwayClient) -> None:
    avatar = await client.create_avatar(SPEC)
    assert avatar.status is AvatarStatus.READY
    assert avatar.name == "Bard"
    assert avatar.start_script == "Well met!"
    assert avatar.voice is not None
    assert avatar.voice.preset_id == "any-voice-the-seed-accepts"


async def test_documents_create_and_delete(client: RunwayClient) -> None:
    document = await client.create_document("Lore", "Once upon a time.")
    assert document.name == "Lore"
    await client.delete_document(document.id)
    with pytest.raises(NotFoundError):
        await client.delete_document(document.id)


async def test_session_hands_over_credentials_at_creation(client: RunwayClient) -> None:
    avatar = await client.create_avatar(SPEC)
    created = await client.create_session(
        SessionSpec(avatar=CustomAvatar(avatar_id=avatar.id), max_seconds=900)
    )
    assert created.credentials is not None
    assert created.credentials.token
    assert created.credentials.room_name


async def test_preset_session_and_duration_clamped_to_seed_maximum(
    wired: tuple[RunwayClient, Wire],
) -> None:
    client, _ = wired
    sent: list[bytes] = []

    async def capture(request: object) -> None:
        sent.append(request.content)  # type: ignore[attr-defined]

    client._http.event_hooks["request"].append(capture)
    created = await client.create_session(
        SessionSpec(avatar=PresetAvatar(preset_id="cat-character"), max_seconds=1800)
    )
    assert created.credentials is not None
    assert b'"maxSessionDurationSeconds":300' in sent[-1]
    assert b'"type":"preset"' in sent[-1]


async def test_seed_errors_are_mapped(wired: tuple[RunwayClient, Wire]) -> None:
    client, wire = wired
    wire.expect_invalid = True
    with pytest.raises(BadRequestError):
        await client.create_session(
            SessionSpec(avatar=PresetAvatar(preset_id="no-such-preset"), max_seconds=60)
        )


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.get_avatar("a"), "reading an avatar"),
        (lambda c: c.list_avatars(), "listing"),
        (lambda c: c.update_avatar("a", AvatarChanges(name="B")), "editing an avatar"),
        (lambda c: c.delete_avatar("a"), "deleting an avatar"),
        (lambda c: c.list_documents(), "listing knowledge"),
        (lambda c: c.get_session("s"), "following a session"),
        (lambda c: c.cancel_session("s"), "ending a session"),
        (lambda c: c.consume_session("s", SecretStr("k")), "join credentials"),
        (lambda c: c.get_conversation("s"), "transcripts and recordings"),
        (lambda c: c.delete_conversation("s"), "transcript and recording at Runway"),
    ],
)
async def test_operations_the_seed_lacks_say_so(seed_sandbox: Sandbox, call, words: str) -> None:
    async with RunwayClient(
        base_url=seed_sandbox.base_url, api_key=SecretStr(SANDBOX_KEY), dialect=Dialect.SEED
    ) as client:
        with pytest.raises(NotSupportedError) as caught:
            await call(client)
    assert seed_sandbox.requests("GET", "/v1/avatars/{id}") == 0
    assert words in caught.value.user_message
    assert "seed" in caught.value.user_message
