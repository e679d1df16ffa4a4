"""The Runway client against the production-dialect sandbox, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnauthorizedError,
)
from bot.runway.models import (
    AvatarChanges,
    AvatarSpec,
    AvatarStatus,
    CustomAvatar,
    PresetAvatar,
    SessionSpec,
    SessionStatus,
)
from bot.runway.retry import RetryPolicy
from bot.runway.sandbox import Sandbox
from bot.settings import Dialect
from tests.runway.conftest import SANDBOX_KEY
from tests.runway.wire import Wire, record_wire

IMAGE = "https://images.example.org/portrait.png"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=2)


def spec(**overrides: object) -> AvatarSpec:
    values: dict[str, object] = {
        "name": "Ada",
        "reference_image": IMAGE,
        "personality": "You are Ada, a patient maths tutor.",
        "voice_preset": "clara",
        "start_script": "Hello! What shall we learn today?",
    }
    values.update(overrides)
    return AvatarSpec.model_validate(values)


@pytest.fixture
async def wired(production_sandbox: Sandbox) -> AsyncIterator[tuple[RunwayClient, Wire]]:
    """A client whose every request and success is checked against runway-openapi.json."""
    async with RunwayClient(
        base_url=production_sandbox.base_url,
        api_key=SecretStr(SANDBOX_KEY),
        dialect=Dialect.PRODUCTION,
        retry=FAST_RETRY,
        timeout=httpx.Timeout(2.0),
    ) as runway:
        wire = record_wire(runway, Dialect.PRODUCTION)
        yield runway, wire
        wire.assert_clean()


@pytest.fixture
def client(wired: tuple[RunwayClient, Wire]) -> RunwayClient:
    return wired[0]


async def test_avatar_lifecycle(client: RunwayClient) -> None:
    created = await client.create_avatar(spec())
    assert created.status is AvatarStatus.PROCESSING
    assert created.start_script == "Hello! What shall we learn today?"
    assert created.voice is not None
    assert created.voice.preset_id == "clara"

    seen: list[AvatarStatus] = []

    async def progress(avatar: object) -> None:
        seen.append(avatar.status)  # type: ignore[attr-defined]

    ready = await client.wait_for_avatar(created.id, interval=0.05, progress=progress)
    assert ready.status is AvatarStatus.READY
    assert seen[-1] is AvatarStatus.READY

    document = await client.create_document("Syllabus", "Fractions, then decimals.")
    changed = await client.update_avatar(
        created.id,
        AvatarChanges(name="Ada L.", start_script=None, document_ids=(document.id,)),
    )
    assert changed.name == "Ada L."
    assert changed.start_script is None
    assert changed.document_ids == (document.id,)
    assert (await client.get_avatar(created.id)).document_ids == (document.id,)

    await client.delete_avatar(created.id)
    with pytest.raises(NotFoundError):
        await client.get_avatar(created.id)


async def test_avatar_list_pages(client: RunwayClient) -> None:
    for name in ("One", "Two", "Three"):
        await client.create_avatar(spec(name=name))
    names: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.list_avatars(limit=2, cursor=cursor)
        pages += 1
        names.extend(avatar.name for avatar in page.data)
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert sorted(names) == ["One", "Three", "Two"]
    assert pages == 2


async def test_recognisable_bad_image_fails_with_reason(client: RunwayClient) -> None:
    created = await client.create_avatar(
        spec(reference_image="https://images.example.org/sandbox-fail.png")
    )
    final = await client.wait_for_avatar(created.id, interval=0.05)
    assert final.status is AvatarStatus.FAILED
    assert final.failure_reason


async def test_document_lifecycle(client: RunwayClient) -> None:
    document = await client.create_document("Menu", "Soup of the day: tomato.")
    assert document.content == "Soup of the day: tomato."
    await client.update_document(document.id, content="Soup of the day: leek.")
    assert (await client.get_document(document.id)).content == "Soup of the day: leek."
    page = await client.list_documents(limit=10)
    assert [item.id for item in page.data] == [document.id]
    await client.delete_document(document.id)
    with pytest.raises(NotFoundError):
        await client.get_document(document.id)


async def test_session_preset_ready_consume_once_and_complete(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    created = await client.create_session(
        SessionSpec(avatar=PresetAvatar(preset_id="cooking-teacher"), max_seconds=120)
    )
    assert created.credentials is None
    ready = await client.wait_for_session_ready(created.id, interval=0.05)
    assert ready.session_key
    credentials = await client.consume_session(created.id, SecretStr(ready.session_key))
    assert credentials.url.startswith("wss://")
    assert credentials.token
    assert credentials.room_name
    with pytest.raises(ConflictError):
        await client.consume_session(created.id, SecretStr(ready.session_key))
    assert (await client.get_session(created.id)).status is SessionStatus.RUNNING

    production_sandbox.end_session(created.id)
    finished = await client.get_session(created.id)
    assert finished.status is SessionStatus.COMPLETED
    assert finished.duration is not None


async def test_consume_refuses_the_api_key(client: RunwayClient) -> None:
    created = await client.create_session(
        SessionSpec(avatar=PresetAvatar(preset_id="influencer"), max_seconds=60)
    )
    await client.wait_for_session_ready(created.id, interval=0.05)
    with pytest.raises(UnauthorizedError):
        await client.consume_session(created.id, SecretStr(SANDBOX_KEY))


async def test_session_with_custom_avatar_and_cancel(client: RunwayClient) -> None:
    avatar = await client.create_avatar(spec())
    await client.wait_for_avatar(avatar.id, interval=0.05)
    created = await client.create_session(
        SessionSpec(avatar=CustomAvatar(avatar_id=avatar.id), max_seconds=5000)
    )
    await client.cancel_session(created.id)
    assert (await client.get_session(created.id)).status is SessionStatus.CANCELLED
    with pytest.raises(ConflictError):
        await client.wait_for_session_ready(created.id, interval=0.05)


async def test_usage_counts_completed_sessions(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    created = await client.create_session(
        SessionSpec(avatar=PresetAvatar(preset_id="tennis-coach"), max_seconds=60)
    )
    ready = await client.wait_for_session_ready(created.id, interval=0.05)
    assert ready.session_key
    await client.consume_session(created.id, SecretStr(ready.session_key))
    production_sandbox.advance(42)
    production_sandbox.end_session(created.id)
    now = datetime.now(UTC) + timedelta(minutes=5)
    usage = await client.usage(now - timedelta(days=7), now)
    assert usage.total_sessions == 1
    assert 42 <= usage.total_seconds <= 43  # plus the real moments the test itself took


async def test_bad_request_carries_issues(wired: tuple[RunwayClient, Wire]) -> None:
    client, wire = wired
    wire.expect_invalid = True
    with pytest.raises(BadRequestError) as caught:
        await client.create_avatar(spec(name="x" * 51))
    assert caught.value.issues
    assert any("name" in issue.path for issue in caught.value.issues)
    assert "name" in caught.value.describe()


async def test_runways_long_messages_are_cut_visibly_never_inside_a_character(
    production_sandbox: Sandbox, client: RunwayClient
) -> None:
    body = {
        "error": "Bad image " + "👍🏽" * 200,
        "issues": [{"code": "custom", "path": ["name"], "message": "x" * 298 + "\\*" * 5}],
    }
    production_sandbox.inject("POST", "/v1/avatars", status=400, body=body)
    with pytest.raises(BadRequestError) as caught:
        await client.create_avatar(spec())
    [issue] = caught.value.issues
    assert issue.message == "x" * 298 + "…"  # never half of the escape "\\*"
    assert caught.value.user_message == (  # never a skin tone without its hand
        "Runway refused the request: Bad image " + "👍🏽" * 144 + "…"
    )


async def test_wrong_key_is_unauthorized_and_never_echoed(production_sandbox: Sandbox) -> None:
    wrong = "sk-wrong-key-do-not-print"
    async with RunwayClient(
        base_url=production_sandbox.base_url, api_key=SecretStr(wrong), retry=FAST_RETRY
    ) as runway:
        with pytest.raises(UnauthorizedError) as caught:
            await runway.list_avatars()
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value.__cause__)


async def test_patching_image_while_processing_conflicts(client: RunwayClient) -> None:
    created = await client.create_avatar(spec())
    with pytest.raises(ConflictError):
        await client.update_avatar(created.id, AvatarChanges(reference_image=IMAGE + "?v=2"))


async def test_unknown_ids_are_not_found(client: RunwayClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(NotFoundError):
        await client.get_avatar(missing)
    with pytest.raises(NotFoundError):
        await client.delete_document(missing)
    with pytest.raises(NotFoundError):
        await client.get_session(missing)


async def test_a_calls_conversation_is_read_with_a_fresh_recording_link_then_deleted(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    created = await client.create_session(
        SessionSpec(avatar=PresetAvatar(preset_id="influencer"), max_seconds=60)
    )
    production_sandbox.advance(1)
    ready = await client.get_session(created.id)
    assert ready.session_key is not None
    await client.consume_session(created.id, SecretStr(ready.session_key))
    production_sandbox.end_session(created.id, after_seconds=12)

    first = await client.get_conversation(created.id)
    assert (first.status.value, first.duration) == ("ended", 12)
    assert [entry.role for entry in first.transcript][:2] == ["assistant", "user"]
    assert first.transcript[0].timestamp is not None
    assert first.recording_url is not None
    production_sandbox.advance(1)
    again = await client.get_conversation(created.id)
    assert again.recording_url != first.recording_url  # each fetch signs a fresh link

    await client.delete_conversation(created.id)
    with pytest.raises(NotFoundError):
        await client.get_conversation(created.id)
    with pytest.raises(NotFoundError):
        await client.delete_conversation(created.id)
