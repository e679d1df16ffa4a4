"""What an operator sees of a real bot after a real scenario: the metrics a scrape reads and
the logs it wrote at DEBUG, in both log formats.

The bot runs twice (once per log format), each time against the fake Discord and a Runway
sandbox in this process, with distinctive secrets. The scenario: a member starts a call (one
admission, one Runway create), tries a second (refused by the member's live-call limit; they
keep the first), opens the link and joins it in the browser, talks for a moment and ends it.
The scrape must show exactly that, and no secret of the run may appear anywhere in the output.
The JSON run serves metrics on the join port behind METRICS_TOKEN; the text run on a port of
its own, where the join port must not serve them.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from bot.runway.sandbox import Sandbox
from bot.telemetry.metrics import SCRAPE_TIME_GAUGES
from tests.e2e.conftest import runway_settings
from tests.e2e.session_steps import (
    PRESET,
    SESSION_ROUTE,
    SESSIONS_ROUTE,
    Browser,
    only_row,
    run,
    start_session,
)
from tests.fakediscord import FakeDiscord, free_port

DISCORD_TOKEN = "MTQ2ODAxNTQ3MjM0NTY3ODkw.Gq4xZp.operations-test-discord-token-0123456789"
RUNWAY_KEY = "key_" + "5e" * 32
METRICS_TOKEN = "metrics-" + "7a" * 16
TALK_SECONDS = 2.2
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module", params=["json", "text"])
def log_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake_discord(discord_spec: Path) -> AsyncIterator[FakeDiscord]:
    """A fake that accepts only this module's token, heartbeating often enough that each
    shard has a measured latency within the test."""
    async with FakeDiscord.serve(
        spec_path=discord_spec, token=DISCORD_TOKEN, heartbeat_interval_ms=1_000
    ) as fake:
        yield fake


@pytest.fixture(scope="module")
def runway_key() -> str:
    return RUNWAY_KEY


@pytest.fixture(scope="module")
def bot_workdir(tmp_path_factory: pytest.TempPathFactory, log_format: str) -> Path:
    return tmp_path_factory.mktemp(f"bot-{log_format}")


@pytest.fixture(scope="module")
def bot_web_port(log_format: str) -> int:
    return free_port()


@pytest.fixture(scope="module")
def metrics_port(log_format: str) -> int | None:
    return free_port() if log_format == "text" else None


@pytest.fixture(scope="module")
def bot_settings(
    runway: Sandbox, bot_web_port: int, log_format: str, metrics_port: int | None
) -> Mapping[str, str]:
    settings = runway_settings(runway, bot_web_port) | {
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": log_format,
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    if metrics_port is not None:
        settings |= {"METRICS_PORT": str(metrics_port), "METRICS_HOST": "127.0.0.1"}
    return settings


@dataclass(frozen=True)
class Scenario:
    guild_id: int
    secrets: dict[str, str]
    """Everything of the run that must never be logged, by what it is."""
    end_interaction: int
    used_seconds: int
    scrape: Samples


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scenario(
    fake_discord: FakeDiscord,
    bot,
    runway: Sandbox,
    bot_web_port: int,
    bot_workdir: Path,
    metrics_port: int | None,
) -> Scenario:
    guild = await fake_discord.create_guild("Operations", system_channel=False)
    member = fake_discord.create_member(guild, "member")
    browser = Browser(bot_web_port)
    join_secret = secrets.token_urlsafe(32)
    try:
        started = await start_session(fake_discord, member)
        refused, offer = await run(fake_discord, "session start", member, avatar=PRESET)
        kept = await fake_discord.press_button(offer, "Cancel", member=member)
        await kept.final(timeout=10.0)
        assert (await browser.open(started.code)).status_code == 200
        session_key = await _session_key(runway, only_row(bot_workdir, member).runway_id)
        joined = await browser.join(started.code, secret=join_secret)
        assert joined.status_code == 200, joined.text
        await asyncio.sleep(TALK_SECONDS)
        end = await fake_discord.invoke("session end", member=member)
        await end_session_reply(fake_discord, end)
        settled = only_row(bot_workdir, member)
    finally:
        await browser.aclose()
    assert settled.state == "SETTLED"
    scrape = await _scrape(bot_web_port, metrics_port)
    return Scenario(
        guild_id=guild.id,
        secrets={
            "Discord token": DISCORD_TOKEN,
            "Runway key": RUNWAY_KEY,
            "metrics token": METRICS_TOKEN,
            "join code": started.code,
            "join secret": join_secret,
            "session key": session_key,
            "LiveKit token": joined.json()["token"],
            **{
                f"interaction token {number}": result.token
                for number, result in enumerate((started.result, refused, kept, end))
            },
        },
        end_interaction=end.id,
        used_seconds=int(settled.used_seconds or 0),
        scrape=scrape,
    )


async def end_session_reply(fake: FakeDiscord, end) -> None:
    from tests.e2e.avatar_steps import settled as settled_reply  # noqa: PLC0415

    reply = await settled_reply(fake, end, timeout=20.0)
    assert reply.text.startswith("Ended your call"), reply.text


async def _session_key(runway: Sandbox, runway_id: str | None) -> str:
    """The session's key as Runway shows it once the session is READY (what the bot reads
    before it consumes the session)."""
    assert runway_id is not None
    async with httpx.AsyncClient(base_url=runway.base_url) as client:
        for _ in range(50):
            answer = await client.get(
                SESSION_ROUTE.replace("{id}", runway_id),
                headers={"Authorization": f"Bearer {RUNWAY_KEY}", "X-Runway-Version": "2024-11-06"},
            )
            key = answer.json().get("sessionKey")
            if isinstance(key, str):
                return key
            await asyncio.sleep(0.05)
    raise AssertionError(f"the session never became READY: {answer.text}")


async def _scrape(web_port: int, metrics_port: int | None) -> Samples:
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with httpx.AsyncClient(timeout=10.0) as client:
        if metrics_port is not None:
            on_join_port = await client.get(f"http://127.0.0.1:{web_port}/metrics", headers=auth)
            assert on_join_port.status_code == 404
            url = f"http://127.0.0.1:{metrics_port}/metrics"
        else:
            url = f"http://127.0.0.1:{web_port}/metrics"
        assert (await client.get(url)).status_code == 401
        answer = await client.get(url, headers=auth)
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_a_scrape_counts_what_happened(scenario: Scenario, runway: Sandbox) -> None:
    scrape = scenario.scrape
    assert value(scrape, "runway_characters_session_admissions_total") == 1
    assert value(scrape, "runway_characters_session_refusals_total", limit="member_live") == 1
    assert value(scrape, "runway_characters_session_refusals_total", limit="member_day") == 0
    create = {"method": "POST", "route": SESSIONS_ROUTE, "status": "200"}
    assert value(scrape, "runway_characters_runway_request_duration_seconds_count", **create) == 1
    assert scenario.used_seconds >= 2
    assert value(scrape, "runway_characters_session_settled_seconds_total") == (
        scenario.used_seconds
    )
    ended = value(scrape, "runway_characters_sessions_ended_total", reason="member_ended")
    assert ended == 1
    assert value(scrape, "runway_characters_live_sessions", state="open") == 0
    assert value(scrape, "runway_characters_live_sessions", state="reserved") == 0
    assert value(scrape, "runway_characters_tracker_overdue_seconds") == 0
    joins = "runway_characters_join_requests_total"
    page = value(scrape, joins, route="/join/{code}", outcome="ok")
    credentials = value(scrape, joins, route="/join/{code}/credentials", outcome="ok")
    assert (page, credentials) == (1, 1)
    assert value(scrape, "runway_characters_tracker_leader") == 1
    assert (value(scrape, "runway_characters_tracker_sweep_duration_seconds_count") or 0) >= 1
    latency = value(scrape, "runway_characters_gateway_latency_seconds", shard="0")
    assert latency is not None
    assert 0 <= latency < 5
    assert value(scrape, "runway_characters_gateway_shard_up", shard="0") == 1
    assert value(scrape, "runway_characters_scrape_source_up", source="database") == 1
    for name in SCRAPE_TIME_GAUGES:  # what the dashboard test takes as exported, really is
        assert any(key[0] == name for key in scrape), name
    writes = value(
        scrape,
        "runway_characters_db_transaction_duration_seconds_count",
        engine="sqlite",
        kind="write",
    )
    assert writes is not None
    assert writes >= 5  # reservation, open, code use, consumed, settle at least


async def test_no_secret_reaches_the_logs_at_debug(scenario: Scenario, bot) -> None:
    output = bot.output
    assert "DEBUG" in output  # the run really logged at DEBUG
    # discord.py really logged the interaction tokens (gateway events, webhook URLs): redacted.
    assert "'token': '[redacted]'" in output
    assert "/[redacted]/callback" in output
    leaked = [what for what, secret in scenario.secrets.items() if secret in output]
    assert not leaked, f"in the bot's output: {leaked}"


async def test_json_lines_name_the_request_and_its_server(
    scenario: Scenario,
    bot,
    log_format: str,
) -> None:
    if log_format != "json":
        assert not any(line.startswith("{") for line in bot.lines)
        assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|DEBUG)", bot.output, re.M)
        return
    entries = []
    for line in bot.lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    settled = [entry for entry in entries if re.match(r"session \d+ settled", entry["message"])]
    assert len(settled) == 1, settled
    assert settled[0]["request_id"] == str(scenario.end_interaction)
    assert settled[0]["guild_id"] == str(scenario.guild_id)
    assert settled[0]["shard"] == 0
    joined = [entry for entry in entries if "joined through LiveKit" in entry["message"]]
    assert len(joined) == 1, joined
    assert re.fullmatch(r"[0-9a-f]{16}", joined[0]["request_id"])
