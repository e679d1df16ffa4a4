"""Both log formats: what a JSON line holds, and that no secret survives either, at any level,
in a message, its arguments or a traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logging_setup import LogFormat, configure_logging
from bot.settings import Settings
from bot.telemetry import context
from bot.telemetry.redaction import REDACTED, Redactor

DISCORD_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
RUNWAY_KEY = "key_0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"
METRICS_TOKEN = "metrics-0123456789abcdef"
DB_PASSWORD = "s3cr3t-pa55word"
DATABASE_URL = f"postgresql://runway:{DB_PASSWORD}@postgres:5432/runway"
JOIN_CODE = "Zx8_kQ2-mN5pL7rT9vW1yA3bC5dE7fG9"
SESSION_KEY = "sk_live_session_key_0123456789abcdef"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpzZWNyZXQ"
SECRETS = (
    DISCORD_TOKEN,
    RUNWAY_KEY,
    METRICS_TOKEN,
    DB_PASSWORD,
    JOIN_CODE,
    SESSION_KEY,
    INTERACTION_TOKEN,
)


@pytest.fixture
def redactor() -> Redactor:
    found = Redactor()
    found.remember(DISCORD_TOKEN, RUNWAY_KEY, METRICS_TOKEN, DB_PASSWORD)
    return found


@pytest.fixture(params=list(LogFormat))
def output(
    request: pytest.FixtureRequest, redactor: Redactor, monkeypatch: pytest.MonkeyPatch
) -> Iterator[io.StringIO]:
    """The process's logging as `configure_logging` sets it up, at DEBUG, into a buffer."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(logging.DEBUG, request.param, redactor)
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def log_everything_secret() -> None:
    log = logging.getLogger("tests.secrets")
    log.debug("token %s and key %s", DISCORD_TOKEN, RUNWAY_KEY)
    log.debug("configured with %s and %s", METRICS_TOKEN, DB_PASSWORD)  # no telling shape
    log.debug("GET /join/%s/credentials -> 200", JOIN_CODE)
    log.debug("headers: {'Authorization': 'Bearer %s'}", METRICS_TOKEN)
    log.debug("Authorization: %s", RUNWAY_KEY)
    log.info("connecting to %s", DATABASE_URL)
    log.debug('answer {"sessionKey": "%s", "status": "READY"}', SESSION_KEY)
    log.debug(
        "Webhook ID 123 with POST https://discord.com/api/v10/webhooks/123/%s/messages/@original",
        INTERACTION_TOKEN,
    )
    log.debug("POST /api/v10/interactions/456/%s/callback", INTERACTION_TOKEN)
    log.debug("WebSocket Event: %s", {"t": "INTERACTION_CREATE", "d": {"token": INTERACTION_TOKEN}})
    try:
        raise RuntimeError(f"could not open {DATABASE_URL} for /join/{JOIN_CODE}")
    except RuntimeError:
        log.exception("failed with %s", DISCORD_TOKEN)


def test_no_secret_in_either_format_at_debug(output: io.StringIO) -> None:
    log_everything_secret()

    text = output.getvalue()
    assert text.count("\n") >= 11, text
    for secret in SECRETS:
        assert secret not in text, secret
    assert REDACTED in text
    assert "/join/[code]/credentials" in text
    assert "/webhooks/123/[redacted]/messages" in text
    assert f"postgresql://runway:{REDACTED}@postgres:5432/runway" in text


def test_json_lines_carry_the_request_server_and_shard(
    redactor: Redactor, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(logging.INFO, LogFormat.JSON, redactor)
        log = logging.getLogger("tests.context")
        log.info("outside any request")
        with context.bound(request_id="1234567890", guild_id=987654321098765432, shard=3):
            log.warning("inside\non two lines")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    outside, inside, failed = (json.loads(line) for line in lines)
    assert set(outside) == {"time", "level", "logger", "message"}
    assert outside["time"].endswith("+00:00")
    assert (outside["level"], outside["logger"]) == ("INFO", "tests.context")
    assert inside == inside | {
        "level": "WARNING",
        "message": "inside\non two lines",
        "request_id": "1234567890",
        "guild_id": "987654321098765432",
        "shard": 3,
    }
    assert "request_id" not in failed
    assert failed["exception"].startswith("Traceback")
    assert "ValueError: boom" in failed["exception"]


def test_the_settings_name_every_secret_for_the_redactor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DISCORD_TOKEN", DISCORD_TOKEN)
    monkeypatch.setenv("RUNWAYML_API_SECRET", RUNWAY_KEY)
    monkeypatch.setenv("METRICS_TOKEN", METRICS_TOKEN)
    monkeypatch.setenv("PUBLIC_URL", f"https://operator:{DB_PASSWORD}@bot.example.org")

    found = Settings().secret_values()

    assert {DISCORD_TOKEN, RUNWAY_KEY, METRICS_TOKEN, DB_PASSWORD} <= set(found)


def test_short_configured_values_are_not_replaced_literally() -> None:
    redactor = Redactor()
    redactor.remember("abc", None, "")
    assert redactor("abc abc") == "abc abc"
