"""Every request to Runway is counted once per attempt, by route template and status."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.errors import UnavailableError
from bot.runway.metered import route_template
from bot.runway.models import PresetAvatar, SessionSpec
from bot.runway.retry import RetryPolicy
from bot.runway.sandbox import Sandbox
from tests.runway.conftest import SANDBOX_KEY

HISTOGRAM = "runway_characters_runway_request_duration_seconds"
SESSION = SessionSpec(avatar=PresetAvatar(preset_id="influencer"), max_seconds=60)
ID = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"


def count(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value(f"{HISTOGRAM}_count", labels) or 0.0


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v1/avatars", "/v1/avatars"),
        (f"/v1/avatars/{ID}", "/v1/avatars/{id}"),
        (f"/v1/documents/{ID}", "/v1/documents/{id}"),
        ("/v1/realtime_sessions", "/v1/realtime_sessions"),
        (f"/v1/realtime_sessions/{ID}", "/v1/realtime_sessions/{id}"),
        (f"/v1/realtime_sessions/{ID}/consume", "/v1/realtime_sessions/{id}/consume"),
        ("/v1/avatar_usage?startDate=2026-01-01", "/v1/avatar_usage"),
        ("/v1/avatar_conversations", "/v1/avatar_conversations"),
        # Not shaped like Runway's API: one label for all of it, never the path itself.
        (f"/v1/avatars/{ID}/{ID}", "other"),
        (f"/v1/{ID}", "other"),
        ("/healthz", "other"),
        (f"/v1/avatars/{ID}/consume/more", "other"),
    ],
)
def test_paths_become_templates_without_ids(path: str, template: str) -> None:
    assert route_template(path) == template


@pytest.fixture
async def client(production_sandbox: Sandbox) -> AsyncIterator[RunwayClient]:
    async with RunwayClient(
        base_url=production_sandbox.base_url,
        api_key=SecretStr(SANDBOX_KEY),
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, max_retry_after=1),
        timeout=httpx.Timeout(2.0),
    ) as runway:
        yield runway


async def test_each_attempt_is_observed_with_its_status(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    create = ("POST", "/v1/realtime_sessions")
    before = {status: count(*create, status) for status in ("200", "503")}
    looked_before = count("GET", "/v1/realtime_sessions/{id}", "200")
    production_sandbox.inject(method="POST", route=create[1], status=503, retry_after=0, times=1)

    created = await client.create_session(SESSION)
    await client.get_session(created.id)

    assert count(*create, "503") - before["503"] == 1  # refused, then retried
    assert count(*create, "200") - before["200"] == 1
    assert count("GET", "/v1/realtime_sessions/{id}", "200") - looked_before == 1
    sessions = REGISTRY.get_sample_value(
        f"{HISTOGRAM}_bucket",
        {"method": "POST", "route": create[1], "status": "200", "le": "+Inf"},
    )
    assert sessions is not None
    assert sessions >= 1


async def test_an_attempt_without_an_answer_is_observed_as_error(
    client: RunwayClient, production_sandbox: Sandbox
) -> None:
    route = "/v1/realtime_sessions"
    before = count("POST", route, "error")
    production_sandbox.inject(method="POST", route=route, drop=True)

    with pytest.raises(UnavailableError):
        await client.create_session(SESSION)

    assert count("POST", route, "error") - before == 1
