"""The sandbox's avatar videos: `POST /v1/avatar_videos` and `GET/DELETE /v1/tasks/{id}`.

Every answer is checked against Runway's OpenAPI description (as in test_sandbox.py), the
output links are downloaded over the sandbox's own https server, and the videos decoded.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from bot.runway.sandbox import Sandbox
from bot.runway.sandbox.media import client_context
from tests.runway.test_sandbox import MISSING_ID, _avatar, _client, _ok, _ready_avatar
from tests.support.media import tone, video_facts

VIDEOS = "/v1/avatar_videos"
TASKS = "/v1/tasks"
PRESET = {"type": "runway-preset", "presetId": "influencer"}
WORDS = "Welcome to the server, friends, and thank you all for coming today."  # 12 words


def _text(text: str = WORDS) -> dict[str, Any]:
    return {"model": "gwm1_avatars", "avatar": PRESET, "speech": {"type": "text", "text": text}}


def _audio(data: bytes, mime: str = "audio/ogg") -> dict[str, Any]:
    uri = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return {"model": "gwm1_avatars", "avatar": PRESET, "speech": {"type": "audio", "audio": uri}}


async def _task(api: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    return await _ok(await api.get(f"{TASKS}/{task_id}"))


async def _download(sandbox: Sandbox, url: str) -> httpx.Response:
    async with httpx.AsyncClient(verify=client_context(sandbox.media_ca_pem)) as media:
        return await media.get(url)


@pytest.fixture
async def api(production_sandbox: Sandbox) -> Any:
    async with _client(production_sandbox) as client:
        yield client


async def test_text_video_goes_through_every_status_to_a_real_mp4(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    # Each status lasts long enough that a slow machine's real seconds cannot skip one.
    config = production_sandbox.config
    config.task_pending_seconds, config.task_throttled_seconds = 20.0, 10.0
    config.task_render_seconds = 80.0
    created = await _ok(await api.post(VIDEOS, json=_text()))
    assert set(created) == {"id"}
    pending = await _task(api, created["id"])
    assert pending["status"] == "PENDING"
    assert pending["estimatedCost"] == {"credits": 2}  # 12 words at 2.5 a second: 4.8 s
    production_sandbox.advance(25)
    assert (await _task(api, created["id"]))["status"] == "THROTTLED"
    production_sandbox.advance(20)
    running = await _task(api, created["id"])
    assert running["status"] == "RUNNING"
    assert 0 < running["progress"] < 1
    production_sandbox.advance(80)
    done = await _task(api, created["id"])
    assert done["status"] == "SUCCEEDED"
    assert done["cost"] == {"credits": 2}
    (url,) = done["output"]
    assert url.startswith("https://127.0.0.1:")
    video = await _download(production_sandbox, url)
    assert video.status_code == 200
    assert video.headers["Content-Type"] == "video/mp4"
    facts = video_facts(video.content)
    assert facts.codecs == ("h264", "aac")
    assert facts.seconds == pytest.approx(4.8, abs=0.3)


async def test_audio_video_lasts_as_long_as_the_recording(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    avatar_id = await _ready_avatar(
        api, production_sandbox, referenceImage="data:image/png;base64," + _PNG
    )
    body = _audio(tone(3.0, "wav"), "audio/wav") | {
        "avatar": {"type": "custom", "avatarId": avatar_id}
    }
    created = await _ok(await api.post(VIDEOS, json=body))
    production_sandbox.advance(20)
    done = await _task(api, created["id"])
    assert done["cost"] == {"credits": 1}
    facts = video_facts((await _download(production_sandbox, done["output"][0])).content)
    assert facts.seconds == pytest.approx(3.0, abs=0.2)
    assert (facts.width, facts.height) == (256, 256)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_text("The sandbox-fail marker is in this script."), "SAFETY.INPUT.TEXT"),
        (_audio(tone(1.0, "ogg", marker=b"SANDBOX-FAIL")), "SAFETY.INPUT.AUDIO"),
        (_audio(b"%PDF-1.7 this is no audio at all"), "INPUT.AUDIO"),
    ],
)
async def test_failed_task_says_why_and_costs_nothing(
    api: httpx.AsyncClient, production_sandbox: Sandbox, body: dict[str, Any], code: str
) -> None:
    created = await _ok(await api.post(VIDEOS, json=body))
    production_sandbox.advance(20)
    failed = await _task(api, created["id"])
    assert failed["status"] == "FAILED"
    assert failed["failureCode"] == code
    assert failed["failure"]
    assert failed["cost"] == {"credits": 0}


async def test_cancel_then_delete_and_expiring_links(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    running = (await _ok(await api.post(VIDEOS, json=_text())))["id"]
    production_sandbox.advance(4)
    assert (await api.delete(f"{TASKS}/{running}")).status_code == 204
    cancelled = await _task(api, running)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["cost"] == {"credits": 0}
    assert (await api.delete(f"{TASKS}/{running}")).status_code == 404  # safe to ignore

    finished = (await _ok(await api.post(VIDEOS, json=_text())))["id"]
    production_sandbox.advance(20)
    first = (await _task(api, finished))["output"][0]
    production_sandbox.advance(production_sandbox.config.output_ttl_seconds + 1)
    assert (await _download(production_sandbox, first)).status_code == 403
    fresh = (await _task(api, finished))["output"][0]
    assert fresh != first
    assert (await _download(production_sandbox, fresh)).status_code == 200
    assert (await api.delete(f"{TASKS}/{finished}")).status_code == 204  # deleted
    assert (await api.get(f"{TASKS}/{finished}")).status_code == 404
    assert (await _download(production_sandbox, fresh)).status_code == 404
    assert (await api.get(f"{TASKS}/{MISSING_ID}")).status_code == 404
    assert (await api.get(f"{TASKS}/not-a-uuid")).status_code == 400


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (_text(""), ["speech", "text"]),
        (_text("x" * 5_001), ["speech", "text"]),
        (_text() | {"speech": {"type": "text", "text": "hi", "voice": {"type": "preset"}}}, None),
        (_text() | {"extra": 1}, ["extra"]),
        (_text() | {"speech": {"type": "audio", "audio": "ftp://example.org/a.mp3"}}, None),
        (_audio(b"") | {"avatar": {"type": "custom", "avatarId": MISSING_ID}}, None),
        ({"model": "gwm1_avatars", "avatar": PRESET}, ["speech"]),
    ],
)
async def test_bad_requests_are_400_with_issues(
    production_sandbox: Sandbox, body: dict[str, Any], path: list[str] | None
) -> None:
    async with _client(production_sandbox, checked=False) as api:
        refused = await api.post(VIDEOS, json=body)
    assert refused.status_code == 400, refused.text
    if path is not None:
        assert path in [issue["path"] for issue in refused.json()["issues"]]


async def test_a_custom_avatar_must_be_ready(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    production_sandbox.config.avatar_processing_seconds = 60.0  # still PROCESSING when asked
    processing = (await _avatar(api))["id"]
    body = _text() | {"avatar": {"type": "custom", "avatarId": processing}}
    async with _client(production_sandbox, checked=False) as unchecked:
        refused = await unchecked.post(VIDEOS, json=body)
    assert refused.status_code == 400
    assert "not READY" in refused.text


async def test_faults_and_padding(api: httpx.AsyncClient, production_sandbox: Sandbox) -> None:
    production_sandbox.inject("POST", VIDEOS, status=429, retry_after=2)
    assert (await api.post(VIDEOS, json=_text())).status_code == 429
    assert production_sandbox.handled("POST", VIDEOS) == 0
    production_sandbox.config.video_padding_bytes = 3_000_000
    created = await _ok(await api.post(VIDEOS, json=_text()))
    production_sandbox.advance(20)
    url = (await _task(api, created["id"]))["output"][0]
    padded = (await _download(production_sandbox, url)).content
    assert len(padded) > 3_000_000
    assert video_facts(padded).seconds == pytest.approx(4.8, abs=0.3)
    assert production_sandbox.inventory()["tasks"] == {created["id"]: "SUCCEEDED"}


async def test_seed_dialect_has_no_videos(seed_sandbox: Sandbox) -> None:
    async with _client(seed_sandbox, checked=False) as seed:
        assert (await seed.post(VIDEOS, json=_text())).status_code == 404
        assert (await seed.get(f"{TASKS}/{MISSING_ID}")).status_code == 404


async def test_official_sdk_reads_video_tasks(production_sandbox: Sandbox) -> None:
    from runwayml import AsyncRunwayML  # noqa: PLC0415 (a test-only dependency)

    async with AsyncRunwayML(
        base_url=production_sandbox.base_url, api_key="sk-test", max_retries=0
    ) as sdk:
        created = await sdk.avatar_videos.create(
            model="gwm1_avatars",
            avatar={"type": "runway-preset", "preset_id": "influencer"},
            speech={
                "type": "text",
                "text": WORDS,
                "voice": {"type": "preset", "preset_id": "clara"},
            },
        )
        assert (await sdk.tasks.retrieve(created.id)).status == "PENDING"
        production_sandbox.advance(20)
        done = await sdk.tasks.retrieve(created.id)
        assert done.status == "SUCCEEDED"
        assert len(done.output) == 1
        await sdk.tasks.delete(created.id)


_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
        "0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
    )
).decode()
