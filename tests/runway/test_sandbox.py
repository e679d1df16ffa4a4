"""The Runway sandbox itself, over real HTTP on loopback.

Every answer the checked clients receive is validated against the dialect's OpenAPI
description when the reference folder is present (see `tests/support/runway_openapi.py`).
The sandbox clock is advanced instead of sleeping, so these tests stay fast.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.runway import catalog
from bot.runway.sandbox import Sandbox, SandboxError
from bot.settings import Dialect
from tests.runway.conftest import SANDBOX_KEY, fast_config
from tests.support.reference import has_reference_file
from tests.support.runway_openapi import (
    PRODUCTION_FILE,
    SEED_FILE,
    validate_runway_request,
    validate_runway_response,
)

AVATARS = "/v1/avatars"
AVATAR = "/v1/avatars/{id}"
DOCUMENTS = "/v1/documents"
SESSIONS = "/v1/realtime_sessions"
USAGE = "/v1/avatar_usage"
MISSING_ID = "2b1c8e0e-3f4a-4b7c-9d2e-1a2b3c4d5e6f"

NOVA: dict[str, Any] = {
    "name": "Nova",
    "referenceImage": "https://images.example.org/nova.png",
    "personality": "A cheerful guide.",
    "voice": {"type": "runway-live-preset", "presetId": "luna"},
}
PRESET_SESSION: dict[str, Any] = {
    "model": "gwm1_avatars",
    "avatar": {"type": "runway-preset", "presetId": "cooking-teacher"},
}
SPEC_FILES = {Dialect.PRODUCTION: PRODUCTION_FILE, Dialect.SEED: SEED_FILE}


def _headers(key: str = SANDBOX_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Runway-Version": catalog.API_VERSION}


@asynccontextmanager
async def _client(
    sandbox: Sandbox, *, checked: bool = True, patience: float = 5.0
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the sandbox; `checked` validates every answer against the description."""
    hooks: dict[str, list[Any]] = {"response": []}
    if checked and has_reference_file(SPEC_FILES[sandbox.dialect]):

        async def check(response: httpx.Response) -> None:
            await response.aread()
            body = response.json() if response.content else None
            request = response.request
            validate_runway_response(
                sandbox.dialect, request.method, request.url.path, response.status_code, body
            )

        hooks["response"].append(check)
    async with httpx.AsyncClient(
        base_url=sandbox.base_url, headers=_headers(), event_hooks=hooks, timeout=patience
    ) as client:
        yield client


@pytest.fixture
async def api(production_sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(production_sandbox) as client:
        yield client


@pytest.fixture
async def seed(seed_sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(seed_sandbox) as client:
        yield client


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def _avatar(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    return await _ok(await api.post(AVATARS, json=NOVA | changes))


async def _ready_avatar(api: httpx.AsyncClient, sandbox: Sandbox, **changes: Any) -> str:
    avatar_id: str = (await _avatar(api, **changes))["id"]
    sandbox.advance(1)
    return avatar_id


async def _document(api: httpx.AsyncClient, name: str = "Menu") -> dict[str, Any]:
    return await _ok(await api.post(DOCUMENTS, json={"name": name, "content": "Soup: tomato."}))


async def _session(api: httpx.AsyncClient, **changes: Any) -> str:
    created = await _ok(await api.post(SESSIONS, json=PRESET_SESSION | changes))
    assert set(created) == {"id"}
    session_id: str = created["id"]
    return session_id


async def _running_session(api: httpx.AsyncClient, sandbox: Sandbox, **changes: Any) -> str:
    session_id = await _session(api, **changes)
    sandbox.advance(1)
    key = (await _ok(await api.get(f"{SESSIONS}/{session_id}")))["sessionKey"]
    await _ok(await _consume(api, session_id, key))
    return session_id


async def _consume(api: httpx.AsyncClient, session_id: str, key: str) -> httpx.Response:
    return await api.post(f"{SESSIONS}/{session_id}/consume", headers=_headers(key))


async def _status(api: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    return await _ok(await api.get(f"{SESSIONS}/{session_id}"))


def _issue_paths(body: dict[str, Any]) -> list[list[str | int]]:
    return [issue["path"] for issue in body["issues"]]


# --- gatekeeping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Runway-Version": catalog.API_VERSION}, 401),
        (_headers("sk-wrong"), 401),
        ({"Authorization": f"Basic {SANDBOX_KEY}", "X-Runway-Version": catalog.API_VERSION}, 401),
        ({"Authorization": f"Bearer {SANDBOX_KEY}"}, 400),
        ({"Authorization": f"Bearer {SANDBOX_KEY}", "X-Runway-Version": "2023-01-01"}, 400),
    ],
)
async def test_key_and_version_header_are_required(
    production_sandbox: Sandbox, headers: dict[str, str], status: int
) -> None:
    async with _client(production_sandbox) as api:
        api.headers.clear()
        response = await api.get(AVATARS, headers=headers)
    assert response.status_code == status
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nothing"), ("PUT", AVATARS), ("DELETE", "/v1/avatar_usage"), ("GET", "/")],
)
async def test_unknown_routes_and_methods_are_404(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await api.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found."}


async def test_body_that_is_not_json_or_not_an_object_is_400(api: httpx.AsyncClient) -> None:
    garbage = await api.post(AVATARS, content=b"{not json", headers={"Content-Type": "text/plain"})
    assert garbage.status_code == 400
    array = await api.post(AVATARS, json=[NOVA])
    assert array.status_code == 400
    assert array.json()["issues"][0]["message"] == "Expected object, received array"


async def test_malformed_path_id_is_400_and_unknown_id_is_404(api: httpx.AsyncClient) -> None:
    malformed = await api.get(f"{AVATARS}/not-a-uuid")
    assert malformed.status_code == 400
    assert _issue_paths(malformed.json()) == [["id"]]
    for path in (AVATARS, DOCUMENTS, SESSIONS):
        assert (await api.get(f"{path}/{MISSING_ID}")).status_code == 404


# --- avatars ---------------------------------------------------------------------------


async def test_avatar_is_processing_then_ready(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    created = await _avatar(api, startScript="Hello there!")
    assert created["status"] == "PROCESSING"
    assert created["processedImageUri"] is None
    assert created["referenceImageUri"] == NOVA["referenceImage"]
    assert created["voice"] == {
        "type": "runway-live-preset",
        "presetId": "luna",
        "name": "Luna",
        "description": "Luna, one of Runway's live preset voices.",
    }
    assert created["startScript"] == "Hello there!"
    assert created["createdAt"] == created["updatedAt"]
    assert created["createdAt"].endswith("Z")

    production_sandbox.advance(0.25)
    ready = await _ok(await api.get(f"{AVATARS}/{created['id']}"))
    assert ready["status"] == "READY"
    assert ready["processedImageUri"].startswith("https://")
    assert "failureReason" not in ready


async def test_avatar_becomes_ready_in_real_time_too(api: httpx.AsyncClient) -> None:
    created = await _avatar(api)
    await asyncio.sleep(0.25)
    assert (await _ok(await api.get(f"{AVATARS}/{created['id']}")))["status"] == "READY"


@pytest.mark.parametrize(
    "reference_image",
    [
        "https://images.example.org/sandbox-fail.png",
        "data:image/png;base64," + base64.b64encode(b"\x89PNG...SANDBOX-FAIL...").decode(),
        "runway://uploads/SANDBOX-FAIL-image",
    ],
)
async def test_recognisable_test_image_fails(
    api: httpx.AsyncClient, production_sandbox: Sandbox, reference_image: str
) -> None:
    avatar_id = await _ready_avatar(api, production_sandbox, referenceImage=reference_image)
    failed = await _ok(await api.get(f"{AVATARS}/{avatar_id}"))
    assert failed["status"] == "FAILED"
    assert failed["failureReason"]
    assert failed["processedImageUri"] is None


async def test_ordinary_data_uri_is_accepted_and_gets_a_preview_address(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG ordinary pixels").decode()
    avatar_id = await _ready_avatar(api, production_sandbox, referenceImage=image)
    ready = await _ok(await api.get(f"{AVATARS}/{avatar_id}"))
    assert ready["status"] == "READY"
    assert ready["referenceImageUri"].startswith("https://sandbox.runway.invalid/")


async def test_custom_voice_is_described_by_id(api: httpx.AsyncClient) -> None:
    created = await _avatar(api, voice={"type": "custom", "id": MISSING_ID})
    assert created["voice"] == {
        "type": "custom",
        "id": MISSING_ID,
        "deleted": False,
        "name": "Custom voice",
        "description": None,
    }


@pytest.mark.parametrize(
    ("changes", "path", "code"),
    [
        ({"name": ""}, ["name"], "too_small"),
        ({"name": "x" * (catalog.AVATAR_NAME_MAX + 1)}, ["name"], "too_big"),
        ({"name": 7}, ["name"], "invalid_type"),
        ({"personality": ""}, ["personality"], "too_small"),
        ({"personality": "x" * (catalog.PERSONALITY_MAX + 1)}, ["personality"], "too_big"),
        ({"startScript": "x" * (catalog.START_SCRIPT_MAX + 1)}, ["startScript"], "too_big"),
        ({"startScript": None}, ["startScript"], "invalid_type"),
        ({"referenceImage": "http://example.org/a.png"}, ["referenceImage"], "invalid_union"),
        ({"referenceImage": "https://a.b"}, ["referenceImage"], "too_small"),
        (
            {"referenceImage": "https://example.org/" + "a" * catalog.REFERENCE_HTTPS_MAX},
            ["referenceImage"],
            "too_big",
        ),
        (
            {"referenceImage": "runway://" + "a" * catalog.REFERENCE_RUNWAY_URI_MAX},
            ["referenceImage"],
            "too_big",
        ),
        (
            {"referenceImage": "data:text/plain;base64,aGVsbG8="},
            ["referenceImage"],
            "invalid_union",
        ),
        (
            {"voice": {"type": "runway-live-preset", "presetId": "bob"}},
            ["voice", "presetId"],
            "invalid_enum_value",
        ),
        ({"voice": {"type": "custom", "id": "voice-1"}}, ["voice", "id"], "invalid_string"),
        ({"voice": {"type": "elevenlabs"}}, ["voice", "type"], "invalid_enum_value"),
        ({"voice": "luna"}, ["voice"], "invalid_type"),
        ({"documentIds": ["nope"]}, ["documentIds", 0], "invalid_string"),
        ({"documentIds": [MISSING_ID] * 51}, ["documentIds"], "too_big"),
        ({"documentIds": [MISSING_ID]}, ["documentIds", 0], "custom"),
        ({"imageProcessing": "sharpen"}, ["imageProcessing"], "invalid_enum_value"),
    ],
)
async def test_avatar_create_limits(
    api: httpx.AsyncClient, changes: dict[str, Any], path: list[str | int], code: str
) -> None:
    response = await api.post(AVATARS, json=NOVA | changes)
    assert response.status_code == 400
    body = response.json()
    assert {"code": code, "path": path} in [
        {"code": issue["code"], "path": issue["path"]} for issue in body["issues"]
    ]
    assert body["docUrl"].startswith("https://")


async def test_avatar_create_lists_every_missing_field(api: httpx.AsyncClient) -> None:
    response = await api.post(AVATARS, json={})
    assert response.status_code == 400
    assert _issue_paths(response.json()) == [
        ["name"],
        ["referenceImage"],
        ["personality"],
        ["voice"],
    ]


async def test_data_uri_longer_than_five_megabytes_is_refused(api: httpx.AsyncClient) -> None:
    prefix = "data:image/png;base64,"
    image = prefix + "A" * (catalog.REFERENCE_DATA_URI_MAX - len(prefix) + 1)
    response = await api.post(AVATARS, json=NOVA | {"referenceImage": image})
    assert response.status_code == 400
    assert response.json()["issues"][0]["code"] == "too_big"


async def test_body_far_over_the_image_limit_is_413_in_the_dialect_format(
    api: httpx.AsyncClient,
) -> None:
    # Past what any request may carry (an avatar video's 16 MB audio URI, and then some).
    image = "data:image/png;base64," + "A" * (catalog.AUDIO_DATA_URI_MAX + 2 * 1024 * 1024)
    response = await api.post(AVATARS, json=NOVA | {"referenceImage": image})
    assert response.status_code == 413
    assert set(response.json()) == {"error"}


async def test_avatar_list_pages_newest_first(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    names = ["One", "Two", "Three"]
    for name in names:
        await _avatar(api, name=name)
        production_sandbox.advance(0.01)  # distinct timestamps; ties are ordered by id
    first = await _ok(await api.get(AVATARS, params={"limit": 2}))
    assert [a["name"] for a in first["data"]] == ["Three", "Two"]
    assert first["hasMore"] is True
    second = await _ok(await api.get(AVATARS, params={"limit": 2, "cursor": first["nextCursor"]}))
    assert [a["name"] for a in second["data"]] == ["One"]
    assert second["hasMore"] is False
    assert second["nextCursor"] is None
    everything = await _ok(await api.get(AVATARS))
    assert len(everything["data"]) == 3


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"limit": "0"}, ["limit"]),
        ({"limit": "101"}, ["limit"]),
        ({"limit": "ten"}, ["limit"]),
        ({"cursor": "not-a-cursor"}, ["cursor"]),
        ({"cursor": "x" * (catalog.CURSOR_MAX + 1)}, ["cursor"]),
    ],
)
async def test_list_query_is_checked(
    api: httpx.AsyncClient, params: dict[str, str], path: list[str]
) -> None:
    response = await api.get(AVATARS, params=params)
    assert response.status_code == 400
    assert _issue_paths(response.json()) == [path]


async def test_avatar_patch_changes_only_given_fields(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    first, second = await _document(api, "First"), await _document(api, "Second")
    avatar = await _avatar(api, startScript="Hi!", documentIds=[first["id"]])
    production_sandbox.advance(1)
    path = f"{AVATARS}/{avatar['id']}"

    unchanged = await _ok(await api.patch(path, json={}))
    assert unchanged["updatedAt"] == avatar["updatedAt"]

    changed = await _ok(
        await api.patch(
            path,
            json={
                "name": "Nova II",
                "startScript": None,
                "documentIds": [second["id"]],
                "voice": {"type": "runway-live-preset", "presetId": "adrian"},
            },
        )
    )
    assert changed["name"] == "Nova II"
    assert changed["startScript"] is None
    assert changed["documentIds"] == [second["id"]]
    assert changed["voice"]["presetId"] == "adrian"
    assert changed["personality"] == NOVA["personality"]
    assert changed["status"] == "READY"
    assert changed["updatedAt"] > avatar["updatedAt"]


async def test_new_reference_image_reprocesses_but_not_while_processing(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    avatar = await _avatar(api)
    path = f"{AVATARS}/{avatar['id']}"
    new_image = {"referenceImage": "https://images.example.org/nova-2.png"}
    conflict = await api.patch(path, json=new_image)
    assert conflict.status_code == 409
    assert set(conflict.json()) == {"error"}

    production_sandbox.advance(1)
    reprocessing = await _ok(await api.patch(path, json=new_image))
    assert reprocessing["status"] == "PROCESSING"
    production_sandbox.advance(1)
    assert (await _ok(await api.get(path)))["status"] == "READY"


async def test_failed_avatar_can_be_given_a_new_image(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    avatar_id = await _ready_avatar(
        api, production_sandbox, referenceImage="https://x.example.org/sandbox-fail.jpg"
    )
    path = f"{AVATARS}/{avatar_id}"
    await _ok(await api.patch(path, json={"referenceImage": NOVA["referenceImage"]}))
    production_sandbox.advance(1)
    assert (await _ok(await api.get(path)))["status"] == "READY"


async def test_avatar_patch_limits_and_missing_documents(api: httpx.AsyncClient) -> None:
    avatar = await _avatar(api)
    path = f"{AVATARS}/{avatar['id']}"
    bad = await api.patch(path, json={"name": "", "documentIds": [MISSING_ID], "personality": None})
    assert bad.status_code == 400
    assert _issue_paths(bad.json()) == [["name"], ["personality"]]
    missing = await api.patch(path, json={"documentIds": [MISSING_ID]})
    assert missing.status_code == 400
    assert _issue_paths(missing.json()) == [["documentIds", 0]]
    assert (await api.patch(f"{AVATARS}/{MISSING_ID}", json={})).status_code == 404


async def test_avatar_delete(api: httpx.AsyncClient) -> None:
    avatar = await _avatar(api)
    path = f"{AVATARS}/{avatar['id']}"
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    assert (await api.delete(path)).status_code == 404


# --- documents -------------------------------------------------------------------------


async def test_document_lifecycle_and_used_by(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    document = await _document(api)
    assert document["type"] == "text"
    assert document["usedBy"] == []
    assert document["content"] == "Soup: tomato."
    path = f"{DOCUMENTS}/{document['id']}"

    avatar_id = await _ready_avatar(api, production_sandbox, documentIds=[document["id"]])
    used = await _ok(await api.get(path))
    assert used["usedBy"] == [
        {"id": avatar_id, "name": "Nova", "imageUrl": used["usedBy"][0]["imageUrl"]}
    ]
    assert used["usedBy"][0]["imageUrl"].startswith("https://")

    production_sandbox.advance(1)
    assert await _ok(await api.patch(path, json={"content": "Soup: leek."}), 204) is None
    updated = await _ok(await api.get(path))
    assert updated["content"] == "Soup: leek."
    assert updated["name"] == "Menu"
    assert updated["updatedAt"] > updated["createdAt"]

    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    avatar = await _ok(await api.get(f"{AVATARS}/{avatar_id}"))
    assert avatar["documentIds"] == []


async def test_document_list_sorts_and_leaves_out_content(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    first = await _document(api, "First")
    production_sandbox.advance(1)
    second = await _document(api, "Second")
    production_sandbox.advance(1)
    await _ok(await api.patch(f"{DOCUMENTS}/{first['id']}", json={"name": "First again"}), 204)

    newest = await _ok(await api.get(DOCUMENTS))
    assert [d["id"] for d in newest["data"]] == [second["id"], first["id"]]
    assert all("content" not in d for d in newest["data"])
    oldest = await _ok(await api.get(DOCUMENTS, params={"order": "asc", "limit": 1}))
    assert [d["id"] for d in oldest["data"]] == [first["id"]]
    rest = await _ok(
        await api.get(
            DOCUMENTS, params={"order": "asc", "limit": 1, "cursor": oldest["nextCursor"]}
        )
    )
    assert [d["id"] for d in rest["data"]] == [second["id"]]
    touched = await _ok(await api.get(DOCUMENTS, params={"sort": "updatedAt"}))
    assert [d["name"] for d in touched["data"]] == ["First again", "Second"]

    bad = await api.get(DOCUMENTS, params={"sort": "name", "order": "up"})
    assert bad.status_code == 400
    assert _issue_paths(bad.json()) == [["sort"], ["order"]]


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"name": "", "content": "x"}, [["name"]]),
        ({"name": "x" * (catalog.DOCUMENT_NAME_MAX + 1), "content": "x"}, [["name"]]),
        ({"name": "x", "content": ""}, [["content"]]),
        ({"name": "x", "content": "x" * (catalog.DOCUMENT_CONTENT_MAX + 1)}, [["content"]]),
        ({}, [["name"], ["content"]]),
    ],
)
async def test_document_limits(
    api: httpx.AsyncClient, body: dict[str, Any], paths: list[list[str]]
) -> None:
    response = await api.post(DOCUMENTS, json=body)
    assert response.status_code == 400
    assert _issue_paths(response.json()) == paths


async def test_document_patch_limits(api: httpx.AsyncClient) -> None:
    document = await _document(api)
    response = await api.patch(f"{DOCUMENTS}/{document['id']}", json={"content": ""})
    assert response.status_code == 400
    assert (await api.patch(f"{DOCUMENTS}/{MISSING_ID}", json={"name": "x"})).status_code == 404


# --- realtime sessions -----------------------------------------------------------------


async def test_session_lifecycle_with_consume_once(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _session(api, maxDuration=120)
    not_ready = await _status(api, session_id)
    assert not_ready["status"] == "NOT_READY"
    assert (await _consume(api, session_id, "guess")).status_code == 401

    production_sandbox.advance(0.25)
    ready = await _status(api, session_id)
    assert ready["status"] == "READY"
    assert ready["expiresAt"] > ready["createdAt"]

    with_api_key = await _consume(api, session_id, SANDBOX_KEY)
    assert with_api_key.status_code == 401
    consumed = await _ok(await _consume(api, session_id, ready["sessionKey"]))
    assert consumed["url"] == "wss://sandbox.livekit.invalid"
    assert consumed["token"]
    assert consumed["roomName"]
    again = await _consume(api, session_id, ready["sessionKey"])
    assert again.status_code == 409
    assert set(again.json()) == {"error"}

    running = await _status(api, session_id)
    assert running["status"] == "RUNNING"
    assert "sessionKey" not in running

    production_sandbox.advance(42.3)
    production_sandbox.end_session(session_id)
    completed = await _status(api, session_id)
    assert completed["status"] == "COMPLETED"
    assert completed["duration"] == 42


async def test_consume_needs_the_version_header_and_a_known_session(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _session(api)
    production_sandbox.advance(1)
    key = (await _status(api, session_id))["sessionKey"]
    api.headers.pop("X-Runway-Version")
    no_version = await api.post(
        f"{SESSIONS}/{session_id}/consume", headers={"Authorization": f"Bearer {key}"}
    )
    assert no_version.status_code == 400
    api.headers["X-Runway-Version"] = catalog.API_VERSION
    assert (await _consume(api, MISSING_ID, key)).status_code == 404
    assert (await _status(api, session_id))["status"] == "READY"


async def test_unconsumed_session_expires(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _session(api)
    production_sandbox.advance(1)
    key = (await _status(api, session_id))["sessionKey"]
    production_sandbox.advance(60)
    expired = await _status(api, session_id)
    assert expired["status"] == "FAILED"
    assert expired["failureCode"] == "SESSION_EXPIRED"
    assert expired["failure"]
    assert (await _consume(api, session_id, key)).status_code == 409


async def test_call_ends_at_max_duration(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _running_session(api, production_sandbox, maxDuration=60)
    production_sandbox.advance(59)
    assert (await _status(api, session_id))["status"] == "RUNNING"
    production_sandbox.advance(1)
    completed = await _status(api, session_id)
    assert (completed["status"], completed["duration"]) == ("COMPLETED", 60)


async def test_call_is_cut_at_the_enforced_maximum(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _running_session(api, production_sandbox, maxDuration=1800)
    production_sandbox.advance(300)
    completed = await _status(api, session_id)
    assert completed["status"] == "COMPLETED"
    assert completed["duration"] == 300


async def test_hang_up_with_a_set_call_length(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _running_session(api, production_sandbox, maxDuration=60)
    production_sandbox.end_session(session_id, after_seconds=30)
    assert (await _status(api, session_id))["duration"] == 30
    longer = await _running_session(api, production_sandbox, maxDuration=60)
    production_sandbox.end_session(longer, after_seconds=90)
    assert (await _status(api, longer))["duration"] == 60


@pytest.mark.parametrize("stage", ["NOT_READY", "READY", "RUNNING"])
async def test_delete_cancels_a_live_session(
    api: httpx.AsyncClient, production_sandbox: Sandbox, stage: str
) -> None:
    if stage == "RUNNING":
        session_id = await _running_session(api, production_sandbox)
    else:
        session_id = await _session(api)
        production_sandbox.advance(1 if stage == "READY" else 0)
    assert (await _status(api, session_id))["status"] == stage
    assert (await api.delete(f"{SESSIONS}/{session_id}")).status_code == 204
    assert (await _status(api, session_id))["status"] == "CANCELLED"


async def test_delete_of_a_finished_session_keeps_its_state(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _running_session(api, production_sandbox)
    production_sandbox.end_session(session_id)
    assert (await api.delete(f"{SESSIONS}/{session_id}")).status_code == 204
    assert (await _status(api, session_id))["status"] == "COMPLETED"
    assert (await api.delete(f"{SESSIONS}/{MISSING_ID}")).status_code == 404


async def test_fail_session_and_control_errors(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    session_id = await _session(api)
    with pytest.raises(SandboxError) as not_running:
        production_sandbox.end_session(session_id)
    assert not_running.value.status == 409
    production_sandbox.fail_session(session_id, failure="GPU on fire.", code="CAPACITY")
    failed = await _status(api, session_id)
    assert (failed["status"], failed["failure"], failed["failureCode"]) == (
        "FAILED",
        "GPU on fire.",
        "CAPACITY",
    )
    with pytest.raises(SandboxError) as finished:
        production_sandbox.fail_session(session_id)
    assert finished.value.status == 409
    with pytest.raises(SandboxError) as unknown:
        production_sandbox.end_session(MISSING_ID)
    assert unknown.value.status == 404


async def test_session_with_custom_avatar_needs_a_ready_one(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    avatar = await _avatar(api)
    custom = {"avatar": {"type": "custom", "avatarId": avatar["id"]}}
    processing = await api.post(SESSIONS, json=PRESET_SESSION | custom)
    assert processing.status_code == 400
    assert _issue_paths(processing.json()) == [["avatar", "avatarId"]]
    production_sandbox.advance(1)
    assert await _session(api, **custom)

    unknown = await api.post(
        SESSIONS, json=PRESET_SESSION | {"avatar": {"type": "custom", "avatarId": MISSING_ID}}
    )
    assert unknown.status_code == 400
    failed_id = await _ready_avatar(
        api, production_sandbox, referenceImage="https://x.example.org/sandbox-fail.png"
    )
    failed = await api.post(
        SESSIONS, json=PRESET_SESSION | {"avatar": {"type": "custom", "avatarId": failed_id}}
    )
    assert failed.status_code == 400


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"maxDuration": catalog.PRODUCTION_MAX_DURATION_MIN - 1}, ["maxDuration"]),
        ({"maxDuration": catalog.PRODUCTION_MAX_DURATION_MAX + 1}, ["maxDuration"]),
        ({"maxDuration": 60.5}, ["maxDuration"]),
        ({"model": "gwm2"}, ["model"]),
        ({"avatar": {"type": "preset", "presetId": "influencer"}}, ["avatar", "type"]),
        ({"avatar": {"type": "runway-preset", "presetId": "dog"}}, ["avatar", "presetId"]),
        ({"avatar": {"type": "custom", "avatarId": "mine"}}, ["avatar", "avatarId"]),
        ({"personality": ""}, ["personality"]),
        ({"startScript": ""}, ["startScript"]),
        ({"tools": [{}] * 21}, ["tools"]),
    ],
)
async def test_session_create_limits(
    api: httpx.AsyncClient, changes: dict[str, Any], path: list[str]
) -> None:
    response = await api.post(SESSIONS, json=PRESET_SESSION | changes)
    assert response.status_code == 400
    assert _issue_paths(response.json()) == [path]


async def test_session_create_requires_model_and_avatar(api: httpx.AsyncClient) -> None:
    response = await api.post(SESSIONS, json={})
    assert response.status_code == 400
    assert _issue_paths(response.json()) == [["model"], ["avatar"]]


async def test_concurrency_limit_answers_429(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    production_sandbox.config.max_concurrent_sessions = 1
    first = await _session(api)
    refused = await api.post(SESSIONS, json=PRESET_SESSION)
    assert refused.status_code == 429
    assert set(refused.json()) == {"error"}
    assert production_sandbox.handled("POST", SESSIONS) == 1
    await api.delete(f"{SESSIONS}/{first}")
    assert await _session(api)


# --- usage -----------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_usage_counts_completed_calls_by_day(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    start = production_sandbox.clock() - timedelta(days=1)
    for seconds in (30, 50):
        session_id = await _running_session(api, production_sandbox)
        production_sandbox.end_session(session_id, after_seconds=seconds)
    cancelled = await _running_session(api, production_sandbox)
    await api.delete(f"{SESSIONS}/{cancelled}")
    production_sandbox.advance(60)
    end = production_sandbox.clock() + timedelta(days=1)

    usage = await _ok(await api.get(USAGE, params={"startDate": _iso(start), "endDate": _iso(end)}))
    assert usage["totalSeconds"] == 80
    assert usage["totalSessions"] == 2
    assert usage["avgDurationSeconds"] == 40
    assert sum(day["seconds"] for day in usage["byDay"]) == 80
    assert all(day["sessions"] > 0 for day in usage["byDay"])

    before = await _ok(
        await api.get(
            USAGE, params={"startDate": _iso(start - timedelta(days=9)), "endDate": _iso(start)}
        )
    )
    assert before == {"totalSeconds": 0, "totalSessions": 0, "avgDurationSeconds": 0, "byDay": []}


@pytest.mark.parametrize(
    ("params", "paths"),
    [
        ({}, [["startDate"], ["endDate"]]),
        ({"startDate": "2026-08-01", "endDate": "2026-08-02T00:00:00Z"}, [["startDate"]]),
        (
            {"startDate": "2026-08-01T00:00:00+02:00", "endDate": "2026-08-02T00:00:00Z"},
            [["startDate"]],
        ),
        ({"startDate": "2026-02-30T00:00:00Z", "endDate": "2026-03-02T00:00:00Z"}, [["startDate"]]),
        ({"startDate": "2026-08-02T00:00:00Z", "endDate": "2026-08-01T00:00:00Z"}, [["endDate"]]),
        ({"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-04-02T00:00:00Z"}, [["endDate"]]),
    ],
)
async def test_usage_query_is_checked(
    api: httpx.AsyncClient, params: dict[str, str], paths: list[list[str]]
) -> None:
    response = await api.get(USAGE, params=params)
    assert response.status_code == 400
    assert _issue_paths(response.json()) == paths


async def test_usage_accepts_exactly_ninety_days(api: httpx.AsyncClient) -> None:
    params = {"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-04-01T00:00:00.000Z"}
    assert (await api.get(USAGE, params=params)).status_code == 200


# --- faults ----------------------------------------------------------------------------


async def test_injected_status_with_retry_after(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    production_sandbox.inject("POST", AVATARS, status=503, retry_after=7, times=2)
    for _ in range(2):
        refused = await api.post(AVATARS, json=NOVA)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "7"
        assert set(refused.json()) == {"error"}
    await _ok(await api.post(AVATARS, json=NOVA))
    assert production_sandbox.requests("POST", AVATARS) == 3
    assert production_sandbox.handled("POST", AVATARS) == 1


async def test_fault_applies_to_its_method_and_route_only(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    avatar = await _avatar(api)
    production_sandbox.inject("GET", AVATAR, status=500)
    assert (await api.get(AVATARS)).status_code == 200
    assert (await api.patch(f"{AVATARS}/{avatar['id']}", json={})).status_code == 200
    assert (await api.get(f"{AVATARS}/{avatar['id']}")).status_code == 500
    assert (await api.get(f"{AVATARS}/{avatar['id']}")).status_code == 200


async def test_fault_without_limit_lasts_until_reset(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    production_sandbox.inject("GET", AVATARS, status=502, times=None)
    for _ in range(3):
        assert (await api.get(AVATARS)).status_code == 502
    production_sandbox.reset()
    assert (await api.get(AVATARS)).status_code == 200
    assert production_sandbox.requests("GET", AVATARS) == 1


async def test_status_after_the_handler_means_it_took_effect(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    production_sandbox.inject("POST", SESSIONS, status=502, before_handler=False)
    assert (await api.post(SESSIONS, json=PRESET_SESSION)).status_code == 502
    assert production_sandbox.handled("POST", SESSIONS) == 1


async def test_injected_body_is_sent_verbatim(production_sandbox: Sandbox) -> None:
    production_sandbox.inject("GET", AVATARS, status=200, body="<html>gateway</html>")
    production_sandbox.inject("GET", AVATARS, status=200, body={"data": "nope"})
    async with _client(production_sandbox, checked=False) as api:
        assert (await api.get(AVATARS)).text == "<html>gateway</html>"
        assert (await api.get(AVATARS)).json() == {"data": "nope"}


async def test_dropped_connection_before_the_handler(production_sandbox: Sandbox) -> None:
    production_sandbox.inject("POST", AVATARS, drop=True)
    async with _client(production_sandbox, checked=False) as api:
        with pytest.raises(httpx.RemoteProtocolError):
            await api.post(AVATARS, json=NOVA)
        assert (await api.get(AVATARS)).json()["data"] == []
    assert production_sandbox.requests("POST", AVATARS) == 1
    assert production_sandbox.handled("POST", AVATARS) == 0


async def test_dropped_connection_after_the_handler(production_sandbox: Sandbox) -> None:
    production_sandbox.inject("POST", AVATARS, drop=True, before_handler=False)
    async with _client(production_sandbox, checked=False) as api:
        with pytest.raises(httpx.RemoteProtocolError):
            await api.post(AVATARS, json=NOVA)
        assert len((await api.get(AVATARS)).json()["data"]) == 1
    assert production_sandbox.handled("POST", AVATARS) == 1


async def test_latency_after_the_handler_times_out_a_request_that_arrived(
    production_sandbox: Sandbox,
) -> None:
    production_sandbox.inject("POST", SESSIONS, latency=0.6, before_handler=False)
    async with _client(production_sandbox, checked=False, patience=0.2) as api:
        with pytest.raises(httpx.ReadTimeout):
            await api.post(SESSIONS, json=PRESET_SESSION)
    assert production_sandbox.requests("POST", SESSIONS) == 1
    assert production_sandbox.handled("POST", SESSIONS) == 1


async def test_latency_before_the_handler_abandoned_by_the_client_creates_nothing(
    production_sandbox: Sandbox,
) -> None:
    production_sandbox.inject("POST", AVATARS, latency=0.4)
    async with _client(production_sandbox, checked=False, patience=0.1) as api:
        with pytest.raises(httpx.ReadTimeout):
            await api.post(AVATARS, json=NOVA)
    await asyncio.sleep(0.5)
    assert production_sandbox.handled("POST", AVATARS) == 0


async def test_latency_alone_only_delays(production_sandbox: Sandbox) -> None:
    production_sandbox.inject("GET", AVATARS, latency=0.2)
    async with _client(production_sandbox) as api:
        started = asyncio.get_running_loop().time()
        assert (await api.get(AVATARS)).status_code == 200
        assert asyncio.get_running_loop().time() - started >= 0.2


@pytest.mark.parametrize(
    ("method", "route", "options", "complaint"),
    [
        ("POST", "/v1/avatar", {}, "not a route"),
        ("PUT", AVATARS, {}, "not a route"),
        ("POST", AVATARS, {"times": 0}, "at least one request"),
        ("POST", AVATARS, {"status": 200}, "needs a body"),
        ("POST", AVATARS, {"latency": -1}, "negative"),
    ],
)
def test_inject_refuses_nonsense(
    method: str, route: str, options: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        Sandbox().inject(method, route, **options)


# --- control over HTTP -----------------------------------------------------------------


async def test_control_routes_drive_a_standalone_sandbox(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    assert (
        await api.post(
            "/_sandbox/faults",
            json={"method": "GET", "route": AVATARS, "status": 503, "retryAfter": 1},
        )
    ).status_code == 204
    assert (await api.get(AVATARS)).status_code == 503
    traffic = await _ok(await api.get("/_sandbox/traffic"))
    assert traffic == {"requests": {"GET /v1/avatars": 1}, "handled": {}}

    session_id = await _session(api)
    assert (await api.post("/_sandbox/advance", json={"seconds": 1})).status_code == 204
    key = (await _status(api, session_id))["sessionKey"]
    await _ok(await _consume(api, session_id, key))
    ended = await api.post(f"/_sandbox/sessions/{session_id}/end", json={"afterSeconds": 12})
    assert ended.status_code == 204
    assert (await _status(api, session_id))["duration"] == 12

    other = await _session(api)
    assert (await api.post(f"/_sandbox/sessions/{other}/fail")).status_code == 204
    assert (await _status(api, other))["failureCode"] == "INTERNAL_ERROR"
    assert (await api.post(f"/_sandbox/sessions/{other}/fail")).status_code == 409
    assert (await api.post(f"/_sandbox/sessions/{MISSING_ID}/end")).status_code == 404

    assert (await api.post("/_sandbox/reset")).status_code == 204
    assert (await api.get(f"{SESSIONS}/{session_id}")).status_code == 404


async def test_control_routes_check_their_input_and_the_key(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    unknown_route = await api.post("/_sandbox/faults", json={"method": "GET", "route": "/v2/x"})
    assert unknown_route.status_code == 400
    wrong_type = await api.post(
        "/_sandbox/faults", json={"method": "GET", "route": AVATARS, "times": "2"}
    )
    assert wrong_type.status_code == 400
    assert wrong_type.json()["issues"][0]["path"] == ["times"]
    assert (await api.post("/_sandbox/advance", json={"seconds": -1})).status_code == 400
    assert (await api.post("/_sandbox/advance", content=b"{")).status_code == 400
    async with httpx.AsyncClient(base_url=production_sandbox.base_url) as anonymous:
        assert (await anonymous.post("/_sandbox/reset")).status_code == 401


# --- seed dialect ----------------------------------------------------------------------

SEED_AVATAR: dict[str, Any] = {
    "name": "Nova",
    "referenceImage": "https://images.example.org/nova.png",
    "personality": "A cheerful guide.",
    "voice": {"type": "runway-live-preset", "presetId": "any-voice-the-seed-allows"},
}
SEED_SESSION: dict[str, Any] = {
    "model": "gwm1_avatars",
    "avatar": {"type": "preset", "presetId": "influencer"},
}


async def test_seed_avatar_and_document_answers(seed: httpx.AsyncClient) -> None:
    document = await _ok(await seed.post(DOCUMENTS, json={"name": "Menu", "content": ""}))
    assert set(document) == {"id", "name", "createdAt"}
    avatar = await _ok(
        await seed.post(
            AVATARS,
            json=SEED_AVATAR
            | {"openingMessage": "Hi!", "documentIds": [document["id"]], "name": ""},
        )
    )
    assert set(avatar) == {"id", "name", "createdAt"}
    assert (await seed.delete(f"{DOCUMENTS}/{document['id']}")).status_code == 204
    gone = await seed.delete(f"{DOCUMENTS}/{document['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"error": "Document not found.", "code": "NOT_FOUND"}
    assert (await seed.delete(f"{DOCUMENTS}/not-even-a-uuid")).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"referenceImage": "not a uri"}, "referenceImage"),
        ({"voice": {"type": "custom", "id": MISSING_ID}}, "voice.type"),
        ({"documentIds": [MISSING_ID] * 51}, "documentIds"),
        ({"documentIds": [MISSING_ID]}, "documentIds.0"),
        ({"personality": None}, "personality"),
    ],
)
async def test_seed_avatar_checks(
    seed: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    response = await seed.post(AVATARS, json=SEED_AVATAR | changes)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "BAD_REQUEST"
    assert f"{field}:" in body["error"]


async def test_seed_session_comes_with_credentials(seed: httpx.AsyncClient) -> None:
    session = await _ok(
        await seed.post(SESSIONS, json=SEED_SESSION | {"maxSessionDurationSeconds": 300})
    )
    assert session["status"] == "READY"
    assert session["serverUrl"] == "wss://sandbox.livekit.invalid"
    assert session["token"]
    assert session["roomName"]


async def test_seed_session_with_custom_avatar(seed: httpx.AsyncClient) -> None:
    avatar = await _ok(await seed.post(AVATARS, json=SEED_AVATAR))
    custom = {"avatar": {"type": "custom", "avatarId": avatar["id"]}}
    assert (await seed.post(SESSIONS, json=SEED_SESSION | custom)).status_code == 200
    unknown = {"avatar": {"type": "custom", "avatarId": MISSING_ID}}
    assert (await seed.post(SESSIONS, json=SEED_SESSION | unknown)).status_code == 400


@pytest.mark.parametrize(
    "changes",
    [
        {"maxSessionDurationSeconds": catalog.SEED_MAX_SESSION_SECONDS + 1},
        {"maxSessionDurationSeconds": 0},
        {"avatar": {"type": "runway-preset", "presetId": "influencer"}},
        {"model": "gwm1"},
    ],
)
async def test_seed_session_checks(seed: httpx.AsyncClient, changes: dict[str, Any]) -> None:
    response = await seed.post(SESSIONS, json=SEED_SESSION | changes)
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"


async def test_seed_sessions_count_towards_the_concurrency_limit(
    seed: httpx.AsyncClient, seed_sandbox: Sandbox
) -> None:
    seed_sandbox.config.max_concurrent_sessions = 1
    first = await _ok(
        await seed.post(SESSIONS, json=SEED_SESSION | {"maxSessionDurationSeconds": 60})
    )
    refused = await seed.post(SESSIONS, json=SEED_SESSION)
    assert refused.status_code == 429
    assert refused.json()["code"] == "TOO_MANY_REQUESTS"
    seed_sandbox.end_session(first["id"])
    assert (await seed.post(SESSIONS, json=SEED_SESSION)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", AVATARS),
        ("GET", f"{AVATARS}/{MISSING_ID}"),
        ("PATCH", f"{AVATARS}/{MISSING_ID}"),
        ("GET", DOCUMENTS),
        ("GET", f"{SESSIONS}/{MISSING_ID}"),
        ("POST", f"{SESSIONS}/{MISSING_ID}/consume"),
        ("GET", USAGE),
    ],
)
async def test_seed_has_only_four_operations(
    seed: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await seed.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found.", "code": "NOT_FOUND"}


async def test_seed_errors_carry_a_code(seed_sandbox: Sandbox) -> None:
    seed_sandbox.inject("POST", DOCUMENTS, status=503, retry_after=3)
    async with _client(seed_sandbox) as seed:
        injected = await seed.post(DOCUMENTS, json={"name": "a", "content": "b"})
        assert injected.json()["code"] == "SERVICE_UNAVAILABLE"
        seed.headers["Authorization"] = "Bearer nope"
        refused = await seed.post(DOCUMENTS, json={"name": "a", "content": "b"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "UNAUTHORIZED"
    with pytest.raises(ValueError, match="not a route"):
        seed_sandbox.inject("GET", AVATARS, status=500)


# --- the validators themselves -----------------------------------------------------------


def test_validators_catch_what_the_sandbox_must_not_send() -> None:
    with pytest.raises(
        AssertionError, match=r"GET /v1/avatars/x response 200 .*'name' is a required property"
    ):
        validate_runway_response(
            "production", "GET", "/v1/avatars/x", 200, {"id": MISSING_ID, "status": "READY"}
        )
    with pytest.raises(AssertionError, match=r"POST /v1/avatars request body .*presetId"):
        validate_runway_request(
            "production",
            "POST",
            AVATARS,
            NOVA | {"voice": {"type": "runway-live-preset", "presetId": "x"}},
        )
    with pytest.raises(AssertionError, match="not documented"):
        validate_runway_response("production", "GET", AVATARS, 201, {})
    with pytest.raises(AssertionError, match="seed"):
        validate_runway_response("seed", "POST", AVATARS, 200, {"id": "nope"})


def test_validators_report_operations_outside_the_description() -> None:
    consume = f"{SESSIONS}/{MISSING_ID}/consume"
    assert validate_runway_response("production", "POST", consume, 200, {}) is False
    assert validate_runway_request("production", "POST", consume, None) is False
    assert validate_runway_request("seed", "GET", AVATARS, None) is False
    assert validate_runway_request("seed", "POST", f"{AVATARS}?x=1", SEED_AVATAR) is True
    assert validate_runway_response("production", "DELETE", f"{AVATARS}/{MISSING_ID}", 204, None)


# --- the official SDK as an oracle -------------------------------------------------------


async def test_official_sdk_parses_production_answers(
    api: httpx.AsyncClient, production_sandbox: Sandbox
) -> None:
    from runwayml import AsyncRunwayML  # noqa: PLC0415 (a test-only dependency)
    from runwayml.types import realtime_session_retrieve_response as session_types  # noqa: PLC0415

    async with AsyncRunwayML(
        base_url=production_sandbox.base_url, api_key=SANDBOX_KEY, max_retries=0
    ) as sdk:
        document = await sdk.documents.create(name="Menu", content="Soup: tomato.")
        avatar = await sdk.avatars.create(
            name="Nova",
            personality="A cheerful guide.",
            reference_image="https://images.example.org/nova.png",
            voice={"type": "runway-live-preset", "preset_id": "luna"},
            document_ids=[document.id],
        )
        assert avatar.status == "PROCESSING"
        assert isinstance(avatar.created_at, datetime)
        production_sandbox.advance(1)
        ready = await sdk.avatars.retrieve(avatar.id)
        assert ready.status == "READY"
        assert ready.voice.type == "runway-live-preset"
        assert [a.id async for a in sdk.avatars.list(limit=10)] == [avatar.id]
        renamed = await sdk.avatars.update(avatar.id, name="Nova II")
        assert renamed.name == "Nova II"

        fetched = await sdk.documents.retrieve(document.id)
        assert [user.id for user in fetched.used_by] == [avatar.id]
        assert [
            d.id async for d in sdk.documents.list(limit=10, sort="createdAt", order="desc")
        ] == [document.id]

        created = await sdk.realtime_sessions.create(
            model="gwm1_avatars", avatar={"type": "custom", "avatar_id": avatar.id}, max_duration=60
        )
        waiting = await sdk.realtime_sessions.retrieve(created.id)
        assert isinstance(waiting, session_types.NotReady)
        production_sandbox.advance(1)
        ready_session = await sdk.realtime_sessions.retrieve(created.id)
        assert isinstance(ready_session, session_types.Ready)
        await _ok(await _consume(api, created.id, ready_session.session_key))
        assert isinstance(await sdk.realtime_sessions.retrieve(created.id), session_types.Running)
        production_sandbox.end_session(created.id, after_seconds=20)
        completed = await sdk.realtime_sessions.retrieve(created.id)
        assert isinstance(completed, session_types.Completed)
        assert completed.duration == 20

        now = production_sandbox.clock()
        usage = await sdk.avatars.get_usage(
            start_date=_iso(now - timedelta(days=1)), end_date=_iso(now + timedelta(days=1))
        )
        assert usage.total_seconds == 20
        assert usage.by_day[0].sessions == 1

        await sdk.realtime_sessions.delete(created.id)
        await sdk.avatars.delete(avatar.id)
        await sdk.documents.delete(document.id)


# --- standalone ------------------------------------------------------------------------


async def test_standalone_sandbox_prints_its_url_and_answers() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.runway.sandbox", "--dialect", "seed", "--port", "0",
        "--api-key", "sk-cli",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=15)).decode()
        assert "seed dialect" in line
        url = line.split(" at ", 1)[1].split(";", 1)[0]
        async with httpx.AsyncClient(base_url=url, headers=_headers("sk-cli")) as client:
            created = await client.post(DOCUMENTS, json={"name": "a", "content": "b"})
        assert created.status_code == 200
    finally:
        process.terminate()
        await process.wait()


def test_clock_is_utc_to_the_millisecond_and_only_moves_forward() -> None:
    sandbox = Sandbox(config=fast_config())
    now = sandbox.clock()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0
    sandbox.advance(1.5)
    assert sandbox.clock() - now >= timedelta(seconds=1.5)
    with pytest.raises(ValueError, match="forward"):
        sandbox.advance(-1)
    with pytest.raises(RuntimeError, match="not serving"):
        _ = sandbox.base_url
