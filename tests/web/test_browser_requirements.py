"""Browser tests skip locally when Chromium is missing, and fail in CI instead of passing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web import browser


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", Path("/nonexistent/chromium"))


@pytest.mark.usefixtures("no_chromium")
def test_missing_chromium_skips_with_the_reason(monkeypatch):
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.require_browser()


@pytest.mark.usefixtures("no_chromium")
def test_missing_chromium_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        browser.require_browser()
