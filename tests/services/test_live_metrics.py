"""What the metrics say about sessions, read from a real database as a scrape reads it:
live sessions by state, unresolved intents, the settling lag; and the counters that starts,
refusals and settlements move, with the database's transaction timings."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

from bot.errors import LimitReached
from bot.services.live_metrics import LiveMetrics
from bot.services.sessions import PRESET_PREFIX
from bot.services.tracker import OVERRUN_GRACE_SECONDS, READY_TIMEOUT_SECONDS
from bot.storage import EndReason, unix_now
from bot.storage.intents import IntentRepository, NewIntent
from bot.storage.live_stats import LiveStatsRepository
from bot.telemetry.metrics import INTENTS_UNRESOLVED, LIVE_SESSIONS, TRACKER_OVERDUE
from tests.services.conftest import GUILD, MEMBER, World

PRESET = PRESET_PREFIX + "cooking-teacher"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def gauges(families: list[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


async def scrape(world: World, now: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    source = LiveMetrics(
        LiveStatsRepository(world.database),
        create_seconds=world.runway.create_read_seconds,
        clock=lambda: now,
    )
    return gauges(list(await source()))


async def test_live_sessions_by_state_and_the_settling_lag(world: World) -> None:
    now = unix_now()
    empty = await scrape(world, now)
    assert empty[(LIVE_SESSIONS, (("state", "open"),))] == 0
    assert empty[(LIVE_SESSIONS, (("state", "reserved"),))] == 0
    assert empty[(TRACKER_OVERDUE, ())] == 0

    target = await world.services.sessions.target(GUILD, PRESET)
    started = await world.services.sessions.start(GUILD, MEMBER, target)
    created = started.session.created_at

    live = await scrape(world, created)
    assert live[(LIVE_SESSIONS, (("state", "open"),))] == 1
    assert live[(LIVE_SESSIONS, (("state", "reserved"),))] == 0
    assert live[(TRACKER_OVERDUE, ())] == 0
    # Nobody joins: the tracker should cancel it READY_TIMEOUT_SECONDS after the start.
    late = await scrape(world, created + READY_TIMEOUT_SECONDS + 40)
    assert late[(TRACKER_OVERDUE, ())] == 40

    code = started.join_url.rsplit("/", 1)[1]
    await world.services.sessions.redeem(code)
    joined = (await world.services.sessions.live(GUILD, MEMBER))[0]
    assert joined.consumed_at is not None
    due = joined.consumed_at + joined.max_seconds + OVERRUN_GRACE_SECONDS
    assert (await scrape(world, due - 1))[(TRACKER_OVERDUE, ())] == 0
    assert (await scrape(world, due + 7))[(TRACKER_OVERDUE, ())] == 7

    await world.services.sessions.end(GUILD, MEMBER)
    ended = await scrape(world, due + 7)
    assert ended[(LIVE_SESSIONS, (("state", "open"),))] == 0
    assert ended[(TRACKER_OVERDUE, ())] == 0


async def test_unresolved_intents_by_state(world: World) -> None:
    before = await scrape(world, unix_now())
    assert before[(INTENTS_UNRESOLVED, (("state", "pending"),))] == 0
    await IntentRepository(world.database).add(
        NewIntent(
            kind="avatar",
            guild_id=GUILD,
            member_id=MEMBER.user_id,
            name="Nova",
            fingerprint=b"\x00" * 32,
            decide_after=unix_now() + 60,
        ),
        world.services.identity.id,
    )

    after = await scrape(world, unix_now())

    assert after[(INTENTS_UNRESOLVED, (("state", "pending"),))] == 1
    assert after[(INTENTS_UNRESOLVED, (("state", "unsure"),))] == 0


async def test_starts_refusals_and_settled_seconds_are_counted(world: World) -> None:
    admitted = value("runway_characters_session_admissions_total")
    refused = value("runway_characters_session_refusals_total", limit="member_live")
    ended = value("runway_characters_sessions_ended_total", reason="member_ended")
    settled = value("runway_characters_session_settled_seconds_total")
    target = await world.services.sessions.target(GUILD, PRESET)

    started = await world.services.sessions.start(GUILD, MEMBER, target)
    with pytest.raises(LimitReached):
        await world.services.sessions.start(GUILD, MEMBER, target)
    await world.services.sessions.redeem(started.join_url.rsplit("/", 1)[1])
    final = await world.services.sessions.end(GUILD, MEMBER)

    assert value("runway_characters_session_admissions_total") - admitted == 1
    assert value("runway_characters_session_refusals_total", limit="member_live") - refused == 1
    assert final.end_reason is EndReason.MEMBER_ENDED
    assert value("runway_characters_sessions_ended_total", reason="member_ended") - ended == 1
    assert value("runway_characters_session_settled_seconds_total") - settled == (
        final.used_seconds
    )


async def test_database_work_is_timed_by_engine_and_kind(world: World) -> None:
    def counted(kind: str) -> float:
        return value(
            "runway_characters_db_transaction_duration_seconds_count",
            engine=world.database.engine.value,
            kind=kind,
        )

    before = {kind: counted(kind) for kind in ("write", "read", "lookup")}

    await world.database.write(lambda tx: tx.execute("UPDATE processes SET pid = pid"))
    await world.database.read(lambda tx: tx.fetch_all("SELECT 1"))
    await world.database.fetch_one("SELECT 1")

    assert {kind: counted(kind) - before[kind] for kind in before} == {
        "write": 1,
        "read": 1,
        "lookup": 1,
    }


async def test_the_tracker_reports_leading_and_its_sweeps(world: World) -> None:
    tracker = world.services.tracker
    sweeps = value("runway_characters_tracker_sweep_duration_seconds_count")

    tracker.start()
    try:
        for _ in range(100):  # the process takes the tracker's lease, then sweeps
            if value("runway_characters_tracker_sweep_duration_seconds_count") > sweeps:
                break
            await asyncio.sleep(0.02)
        assert value("runway_characters_tracker_leader") == 1
    finally:
        await tracker.stop()

    assert value("runway_characters_tracker_leader") == 0
    assert value("runway_characters_tracker_sweep_duration_seconds_count") > sweeps
    assert value("runway_characters_tracker_last_sweep_timestamp_seconds") >= unix_now() - 5
