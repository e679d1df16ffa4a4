"""Headless Chromium for the join-page tests: Debian's `chromium`, driven by Playwright.

Locally the tests skip with a reason when something they need is missing; in CI (CI=true)
the same gap fails them, so a broken CI image cannot pass by skipping.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from bot.web.assets import find_livekit_dist

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "join"
# Fake microphone and camera, no GPU, nothing that phones home. Microphone permission is
# granted (or not) per browser context, so one browser serves the "denied" test too.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
]


def require_browser() -> Path:
    """The livekit-client build to serve; skips (or in CI fails) when anything is missing."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright is not installed (pip install -e '.[dev]')")
    livekit = find_livekit_dist([REPO_ROOT])
    if livekit is None:
        missing.append("livekit-client is not installed (npm ci)")
    if missing:
        reason = "browser tests need: " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    assert livekit is not None
    return livekit
