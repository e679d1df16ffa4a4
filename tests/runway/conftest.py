"""Running sandboxes for the Runway tests: loopback, any free port, fast timings.

Each test gets a fresh sandbox with its own config object, so a test may change a setting
on it (say, `max_concurrent_sessions`) without touching any other test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.runway.sandbox import Sandbox, SandboxConfig

SANDBOX_KEY = "sk-test"


def fast_config(**overrides: Any) -> SandboxConfig:
    """Timings short enough to poll through in real time, long enough to observe each state."""
    settings: dict[str, Any] = {
        "avatar_processing_seconds": 0.2,
        "session_ready_seconds": 0.2,
        "session_ready_ttl_seconds": 60,
        "enforced_max_seconds": 300,
        "max_concurrent_sessions": None,
        "livekit_url": "wss://sandbox.livekit.invalid",
    }
    return SandboxConfig(**(settings | overrides))


@pytest.fixture
async def production_sandbox() -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(dialect="production", api_key=SANDBOX_KEY, config=fast_config())
    async with sandbox.serve(host="127.0.0.1", port=0):
        yield sandbox


@pytest.fixture
async def seed_sandbox() -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(dialect="seed", api_key=SANDBOX_KEY, config=fast_config())
    async with sandbox.serve(host="127.0.0.1", port=0):
        yield sandbox
