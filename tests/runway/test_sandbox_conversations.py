"""The sandbox's conversations: what Runway keeps of each call, over real HTTP on loopback.

Every answer is checked against `runway-openapi.json` (each of the three shapes of a
conversation, the list and the delete) when the reference folder is present; the official
SDK parses them too. The recording is a real WAV file the sandbox serves at a signed link
that expires, and a fresh link comes with each fetch of the conversation.
"""

from __future__ import annotations

import io
import wave
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.runway.sandbox import Sandbox, SandboxError
from tests.runway.conftest import SANDBOX_KEY
from tests.runway.test_sandbox import (
    MISSING_ID,
    _client,
    _consume,
    _iso,
    _ok,
    _ready_avatar,
    _running_session,
    _session,
    _status,
)

CONVERSATIONS = "/v1/avatar_conversations"


@pytest.fixture
async def api(production_sandbox: Sandbox) -> Any:
    async with _client(production_sandbox) as client:
        yield client


async def _conversation(api: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    return await _ok(await api.get(f"{CONVERSATIONS}/{session_id}"))


async def _ended_call(api: httpx.AsyncClient, sandbox: Sandbox, seconds: float = 30) -> str:
    session_id = await _running_session(api, sandbox)
    sandbox.end_session(session_id, after_seconds=seconds)
    return session_id


async def test_a_finished_call_has_its_transcript_and_a_recording_anyone_with_the_link_gets(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _ended_call(api, production_sandbox, seconds=30)
    detail = await _conversation(api, session_id)

    assert (detail["id"], detail["status"], detail["duration"]) == (session_id, "ended", 30)
    assert detail["avatar"] == {"type": "runway-preset", "presetId": "cooking-teacher"}
    assert detail["startedAt"] < detail["endedAt"]
    roles = [entry["role"] for entry in detail["transcript"]]
    assert roles == ["assistant", "user", "assistant", "user", "assistant"]
    assert all(entry["content"] and entry["timestamp"] for entry in detail["transcript"])

    async with httpx.AsyncClient() as anyone:  # no API key, no version header
        recording = await anyone.get(detail["recordingUrl"])
    assert recording.status_code == 200
    assert recording.headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(recording.content)) as audio:
        assert audio.getnframes() / audio.getframerate() == pytest.approx(1.0)


async def test_a_recording_link_expires_and_the_next_fetch_gives_a_fresh_one(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _ended_call(api, production_sandbox)
    old = (await _conversation(api, session_id))["recordingUrl"]
    production_sandbox.advance(production_sandbox.config.recording_ttl_seconds)
    fresh = (await _conversation(api, session_id))["recordingUrl"]
    async with httpx.AsyncClient() as anyone:
        expired = await anyone.get(old)
        assert expired.status_code == 403
        assert expired.json() == {"error": "The recording link has expired."}
        assert (await anyone.get(fresh)).status_code == 200
        forged = fresh.replace("signature=", "signature=0")
        assert (await anyone.get(forged)).status_code == 403


async def test_each_state_of_a_call_has_its_own_shape(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    waiting = await _session(api)
    assert (await _conversation(api, waiting))["status"] == "in_progress"
    assert (await _conversation(api, waiting))["transcript"] == []

    running = await _running_session(api, production_sandbox)
    production_sandbox.advance(5)
    live = await _conversation(api, running)
    assert (live["status"], live["duration"], live["recordingUrl"]) == ("in_progress", 5, None)
    assert "endedAt" not in live
    assert [entry["role"] for entry in live["transcript"]] == ["assistant", "user"]

    failed = await _session(api)
    production_sandbox.fail_session(failed, failure="GPU on fire.", code="CAPACITY")
    broken = await _conversation(api, failed)
    assert (broken["status"], broken["failureCode"], broken["startedAt"]) == (
        "failed",
        "CAPACITY",
        None,
    )
    assert (broken["endedAt"], broken["recordingUrl"]) == (None, None)

    cancelled = await _running_session(api, production_sandbox)
    production_sandbox.advance(3)
    assert (await api.delete(f"/v1/realtime_sessions/{cancelled}")).status_code == 204
    stopped = await _conversation(api, cancelled)
    assert (stopped["status"], stopped["duration"]) == ("ended", 3)
    assert stopped["recordingUrl"]


async def test_a_scripted_transcript_is_said_whole_markdown_and_all(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _ended_call(api, production_sandbox, seconds=2)
    lines = [("user", f"@everyone **{n}** " + "x" * 3_990) for n in range(1_000)]
    production_sandbox.script_conversation(session_id, lines)
    said = (await _conversation(api, session_id))["transcript"]
    assert len(said) == 1_000
    assert said[999]["content"] == lines[999][1]
    with pytest.raises(ValueError, match="role"):
        production_sandbox.script_conversation(session_id, [("moderator", "hi")])
    over_http = await api.post(
        f"/_sandbox/conversations/{session_id}/transcript",
        json={"entries": [{"role": "assistant", "content": "Only this."}]},
    )
    assert over_http.status_code == 204
    assert [e["content"] for e in (await _conversation(api, session_id))["transcript"]] == [
        "Only this."
    ]


async def test_deleting_a_conversation_removes_transcript_recording_and_listing(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _ended_call(api, production_sandbox)
    link = (await _conversation(api, session_id))["recordingUrl"]
    live = await _running_session(api, production_sandbox)
    refused = await api.delete(f"{CONVERSATIONS}/{live}")
    assert refused.status_code == 409

    assert (await api.delete(f"{CONVERSATIONS}/{session_id}")).status_code == 204
    assert (await api.get(f"{CONVERSATIONS}/{session_id}")).status_code == 404
    assert (await api.delete(f"{CONVERSATIONS}/{session_id}")).status_code == 404
    async with httpx.AsyncClient() as anyone:
        assert (await anyone.get(link)).status_code == 404
    now = production_sandbox.clock()
    window = {
        "startDate": _iso(now - timedelta(hours=1)),
        "endDate": _iso(now + timedelta(seconds=1)),
        "limit": 10,
    }
    listed = await _ok(await api.get(CONVERSATIONS, params=window))
    assert [item["id"] for item in listed["data"]] == [live]
    assert session_id not in production_sandbox.inventory()["conversations"]
    assert (await _status(api, session_id))["status"] == "COMPLETED"  # the session stays
    with pytest.raises(SandboxError) as gone:
        production_sandbox.script_conversation(session_id, [])
    assert gone.value.status == 404
    assert (await api.get(f"{CONVERSATIONS}/{MISSING_ID}")).status_code == 404


async def test_the_list_filters_by_avatar_and_dates_and_pages_newest_first(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    avatar_id = await _ready_avatar(api, production_sandbox)
    custom = {"avatar": {"type": "custom", "avatarId": avatar_id}}
    first = await _session(api, **custom)
    production_sandbox.advance(60)
    preset = await _session(api)
    production_sandbox.advance(60)
    second = await _session(api, **custom)
    now = production_sandbox.clock()
    window = {
        "startDate": _iso(now - timedelta(hours=1)),
        "endDate": _iso(now + timedelta(seconds=1)),  # exclusive
        "limit": 1,
    }

    page = await _ok(await api.get(CONVERSATIONS, params=window | {"avatar": avatar_id}))
    assert [item["id"] for item in page["data"]] == [second]
    assert page["data"][0]["avatar"] == {"type": "custom", "id": avatar_id, "name": "Nova"}
    assert page["hasMore"] is True
    rest = await _ok(
        await api.get(
            CONVERSATIONS, params=window | {"avatar": avatar_id, "cursor": page["nextCursor"]}
        )
    )
    assert ([item["id"] for item in rest["data"]], rest["hasMore"]) == ([first], False)
    early = window | {"endDate": _iso(now - timedelta(seconds=90)), "limit": 10}
    assert [i["id"] for i in (await _ok(await api.get(CONVERSATIONS, params=early)))["data"]] == [
        first
    ]
    everything = await _ok(await api.get(CONVERSATIONS, params=window | {"limit": 10}))
    assert [item["id"] for item in everything["data"]] == [second, preset, first]
    assert everything["data"][1]["avatar"]["name"] == "Cooking Teacher"
    bad = await api.get(CONVERSATIONS, params=window | {"avatar": "not-a-uuid"})
    assert bad.status_code == 400


async def test_official_sdk_reads_lists_and_deletes_conversations(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    from runwayml import AsyncRunwayML  # noqa: PLC0415 (a test-only dependency)

    session_id = await _ended_call(api, production_sandbox, seconds=20)
    waiting = await _session(api)
    async with AsyncRunwayML(
        base_url=production_sandbox.base_url, api_key=SANDBOX_KEY, max_retries=0
    ) as sdk:
        ended = await sdk.avatar_conversations.retrieve(session_id)
        assert (ended.status, ended.duration) == ("ended", 20)
        assert ended.transcript[0].role == "assistant"
        assert ended.recording_url
        assert (await sdk.avatar_conversations.retrieve(waiting)).status == "in_progress"
        listed = [c.id async for c in sdk.avatar_conversations.list(limit=10)]
        assert listed == [waiting, session_id]
        await sdk.avatar_conversations.delete(session_id)
    assert session_id not in production_sandbox.inventory()["conversations"]
    assert (await _consume(api, MISSING_ID, "x")).status_code == 404
