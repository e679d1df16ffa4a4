"""Usage reports below Discord: figures, who may see what, CSV, the chart, and Runway's books."""

from __future__ import annotations

import asyncio
import csv
import io
import time

import pytest
from PIL import Image

from bot.errors import NotAllowed
from bot.services.actors import Actor
from bot.services.sessions import PRESET_PREFIX
from bot.services.usage_reports import CSV_COLUMNS, ReportPeriod, UsageReports, period_of
from bot.storage import EndReason, LiveLimits, SessionRepository
from bot.storage.quotas import QuotaName
from tests.services.conftest import ADMIN, GUILD, MEMBER, OTHER_GUILD, World
from tests.storage.helpers import new_session

OTHER = Actor(user_id=33)


def reports(world: World) -> UsageReports:
    return world.services.usage


async def seed_history(world: World) -> None:
    """Today in GUILD: MEMBER 100 s + 50 s with Ada, OTHER 300 s with =Evil (hit the time
    limit), one start that failed; OTHER_GUILD: 999 s."""
    sessions = SessionRepository(world.database)
    plan = [
        (GUILD, MEMBER, "Ada", 100, EndReason.MEMBER_ENDED),
        (GUILD, MEMBER, "Ada", 50, EndReason.MEMBER_ENDED),
        (GUILD, OTHER, "=Evil()", 300, EndReason.TIME_LIMIT),
        (GUILD, OTHER, "Ada", None, EndReason.START_FAILED),
        (OTHER_GUILD, MEMBER, "Ada", 999, EndReason.COMPLETED),
    ]
    for guild, actor, label, used, reason in plan:
        session = await sessions.reserve(
            new_session(guild_id=guild, member_id=actor.user_id, avatar_label=label), LiveLimits()
        )
        if used is None:
            await sessions.release(session.id, reason)
        else:
            await sessions.settle(
                session.id, used_seconds=used, end_reason=reason, ended_at=int(time.time())
            )


async def test_an_admin_sees_the_whole_server(world: World) -> None:
    await seed_history(world)
    report = await reports(world).report(GUILD, ADMIN, ReportPeriod.LAST_7_DAYS)
    assert report.member_id is None
    assert (report.totals.settled_sessions, report.totals.settled_seconds) == (3, 450)
    assert len(report.days) == 7
    assert sum(day.seconds for day in report.days) == 450
    assert report.days[-1].seconds == 450  # all of it today
    assert [(a.label, a.seconds) for a in report.top_avatars] == [("=Evil()", 300), ("Ada", 150)]
    assert [(m.member_id, m.seconds) for m in report.top_members] == [
        (OTHER.user_id, 300),
        (MEMBER.user_id, 150),
    ]
    reasons = {reason.label: reason.sessions for reason in report.end_reasons}
    assert reasons == {"member_ended": 2, "time_limit": 1, "start_failed": 1}


async def test_a_member_sees_only_their_own_usage(world: World) -> None:
    await seed_history(world)
    own = await reports(world).report(GUILD, MEMBER, ReportPeriod.TODAY)
    assert own.member_id == MEMBER.user_id
    assert own.totals.settled_seconds == 150
    assert own.top_members == []
    assert own.reconciliation is None  # account-wide figures are for admins
    with pytest.raises(NotAllowed):
        await reports(world).report(GUILD, MEMBER, ReportPeriod.TODAY, member_id=OTHER.user_id)
    assert (await reports(world).report(GUILD, MEMBER, ReportPeriod.TODAY, MEMBER.user_id)).totals
    admin_view = await reports(world).report(GUILD, ADMIN, ReportPeriod.TODAY, OTHER.user_id)
    assert admin_view.totals.settled_seconds == 300


async def test_periods_follow_the_servers_timezone(world: World) -> None:
    await world.services.quotas.set_timezone(GUILD, ADMIN, "Asia/Kolkata")
    report = await reports(world).report(GUILD, ADMIN, ReportPeriod.THIS_MONTH)
    assert report.timezone == "Asia/Kolkata"
    tz = (await world.services.quotas.settings(GUILD)).timezone
    assert report.period == period_of(ReportPeriod.THIS_MONTH, int(time.time()), tz)
    # Kolkata is UTC+5:30: its months start at 18:30 UTC the day before.
    assert report.period.start % 86_400 == 18 * 3600 + 30 * 60
    last = period_of(ReportPeriod.LAST_MONTH, int(time.time()), tz)
    assert last.end == report.period.start


async def test_csv_lists_every_session_and_defuses_formulas(world: World) -> None:
    await seed_history(world)
    export = await reports(world).export_csv(GUILD, ADMIN, ReportPeriod.TODAY)
    rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8"))))
    assert export.rows == len(rows) == 4
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {row["avatar"] for row in rows} == {"Ada", "'=Evil()"}
    assert sorted(row["used_seconds"] for row in rows) == ["", "100", "300", "50"]
    assert export.filename.startswith(f"usage-{GUILD}-today-")
    with pytest.raises(NotAllowed):
        await reports(world).export_csv(GUILD, MEMBER, ReportPeriod.TODAY)


async def test_the_chart_is_a_png_drawn_off_the_event_loop(world: World) -> None:
    await seed_history(world)
    report = await reports(world).report(GUILD, ADMIN, ReportPeriod.LAST_30_DAYS)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    running = asyncio.create_task(ticker())
    png = await reports(world).chart(report)
    stop.set()
    await running
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (800, 360)
    assert ticks >= 3  # the loop kept running while matplotlib drew


async def test_our_books_match_runways_after_a_real_call(world: World) -> None:
    sessions = world.services.sessions
    target = await sessions.target(GUILD, PRESET_PREFIX + "cooking-teacher")
    started = await sessions.start(GUILD, MEMBER, target)
    await sessions.redeem(started.join_url.rsplit("/", 1)[1])
    assert started.session.runway_id is not None
    world.sandbox.end_session(started.session.runway_id, after_seconds=42)
    await world.services.tracker.sweep()
    report = await reports(world).report(GUILD, ADMIN, ReportPeriod.TODAY)
    books = report.reconciliation
    assert books is not None
    assert (books.ours_seconds, books.runway_seconds, books.seconds_difference) == (42, 42, 0)
    assert (books.ours_sessions, books.runway_sessions) == (1, 1)
    # A session Runway never saw shows up as a difference.
    await seed_history(world)
    books = (await reports(world).report(GUILD, ADMIN, ReportPeriod.TODAY)).reconciliation
    assert books is not None
    assert books.seconds_difference == 450 + 999  # every server's books: Runway bills the account


async def test_runway_unreachable_is_reported_not_raised(world: World) -> None:
    world.sandbox.inject("GET", "/v1/avatar_usage", status=503, times=5)
    books = (await reports(world).report(GUILD, ADMIN, ReportPeriod.TODAY)).reconciliation
    assert books is not None
    assert books.runway_seconds is None
    assert books.problem


async def test_the_seed_api_has_no_usage_to_reconcile(seed_world: World) -> None:
    report = await seed_world.services.usage.report(GUILD, ADMIN, ReportPeriod.TODAY)
    assert report.reconciliation is None


async def test_budget_alerts_fire_once_per_threshold_and_period(world: World) -> None:
    quotas = world.services.quotas
    await quotas.set_limit(GUILD, ADMIN, QuotaName.GUILD_DAY, 500)
    assert await world.services.alerts.check(GUILD) == []  # no channel, no alert
    await quotas.set_alert_channel(GUILD, ADMIN, 4242)
    await seed_history(world)  # 450 s of 500: 90 %
    [alert] = await world.services.alerts.check(GUILD)
    assert (alert.channel_id, alert.percent, alert.used_seconds) == (4242, 80, 450)
    assert "80 % of its daily call time" in alert.title
    assert "7 min 30 s of 8 min 20 s used" in alert.text
    assert await world.services.alerts.check(GUILD) == []  # once only
    sessions = SessionRepository(world.database)
    more = await sessions.reserve(new_session(guild_id=GUILD, member_id=5), LiveLimits())
    await sessions.settle(more.id, used_seconds=60, end_reason=EndReason.COMPLETED, ended_at=0)
    [full] = await world.services.alerts.check(GUILD)
    assert full.percent == 100
    assert "all of its daily call time" in full.title
