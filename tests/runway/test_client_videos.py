"""The client's avatar videos against the production sandbox, every request and answer
checked against runway-openapi.json; the seed dialect says it has none."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.errors import BadRequestError, NotFoundError, NotSupportedError
from bot.runway.models import (
    AudioSpeech,
    CustomAvatar,
    PresetAvatar,
    TaskStatus,
    TextSpeech,
    VideoSpec,
)
from bot.runway.sandbox import Sandbox
from bot.settings import Dialect
from tests.runway.conftest import SANDBOX_KEY
from tests.runway.test_client_production import client, spec, wired
from tests.support.media import tone

__all__ = ["client", "wired"]

PRESET = PresetAvatar(preset_id="tennis-coach")


async def test_text_video_from_submit_to_output(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    task_id = await client.create_avatar_video(
        VideoSpec(avatar=PRESET, speech=TextSpeech(text="Serve, then volley.", voice_preset="max"))
    )
    pending = await client.get_task(task_id)
    assert pending.status is TaskStatus.PENDING
    assert pending.estimated_cost is not None
    production_sandbox.advance(5)
    running = await client.get_task(task_id)
    assert running.status is TaskStatus.RUNNING
    assert running.progress is not None
    production_sandbox.advance(20)
    done = await client.get_task(task_id)
    assert done.status is TaskStatus.SUCCEEDED
    assert done.status.is_final
    assert done.cost is not None
    assert done.cost.credits == 1
    assert len(done.output) == 1


async def test_audio_video_of_a_custom_avatar_and_cancel(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    avatar = await client.create_avatar(spec())
    production_sandbox.advance(1)
    audio = "data:audio/ogg;base64," + base64.b64encode(tone(1.0)).decode()
    task_id = await client.create_avatar_video(
        VideoSpec(avatar=CustomAvatar(avatar_id=avatar.id), speech=AudioSpeech(audio=audio))
    )
    await client.cancel_task(task_id)
    assert (await client.get_task(task_id)).status is TaskStatus.CANCELLED
    with pytest.raises(NotFoundError):
        await client.cancel_task(task_id)


async def test_runway_refusal_is_a_bad_request(production_sandbox: Sandbox) -> None:
    async with RunwayClient(
        base_url=production_sandbox.base_url, api_key=SecretStr(SANDBOX_KEY)
    ) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.create_avatar_video(
                VideoSpec(avatar=PRESET, speech=TextSpeech(text="x" * 5_001))
            )
    assert "speech.text" in caught.value.describe()


async def test_seed_has_no_video_endpoint(seed_sandbox: Sandbox) -> None:
    async with RunwayClient(
        base_url=seed_sandbox.base_url, api_key=SecretStr(SANDBOX_KEY), dialect=Dialect.SEED
    ) as client:
        with pytest.raises(NotSupportedError) as caught:
            await client.create_avatar_video(VideoSpec(avatar=PRESET, speech=TextSpeech(text="a")))
        with pytest.raises(NotSupportedError):
            await client.get_task("t")
    assert "making avatar videos" in caught.value.user_message
    assert seed_sandbox.requests("POST", "/v1/avatar_videos") == 0
