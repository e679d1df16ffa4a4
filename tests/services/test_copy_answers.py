"""After `python -m bot.storage.copy`, the bot on PostgreSQL answers as it did on SQLite:
`/quota show` (the limits and a member's allowance), `/usage` reports and their CSV export,
the avatar list. Each answer is read through the services, wired as in production, first on
the SQLite file, then on the PostgreSQL database copied from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.runway.sandbox import Sandbox
from bot.services.actors import Actor
from bot.services.avatars import AvatarPage
from bot.services.usage_reports import CsvExport, ReportPeriod, UsageReport
from bot.settings import Dialect
from bot.storage.copy import copy_database
from tests.services.conftest import ADMIN, open_world
from tests.support.deployment import populated

PERIODS = (ReportPeriod.TODAY, ReportPeriod.LAST_30_DAYS, ReportPeriod.LAST_12_MONTHS)


# The copy's target is PostgreSQL: the suite's engine fixture, held to that engine.
pytestmark = pytest.mark.parametrize("engine", ["postgres"])


@pytest.fixture
def target(empty_target: str | Path) -> str:
    """A PostgreSQL database without tables: the copy creates them."""
    return str(empty_target)


async def answers(
    sandbox: Sandbox, where: str | Path, guilds: list[int], member: int
) -> list[object]:
    found: list[object] = []
    async for world in open_world(sandbox, where, Dialect.PRODUCTION):
        services = world.services
        for guild in guilds:
            found.append(await services.quotas.settings(guild))
            found.append(await services.quotas.allowance(guild, Actor(user_id=member)))
            for period in PERIODS:
                report = await services.usage.report(guild, ADMIN, period)
                # Runway's own figures for the period come from the sandbox, not the database
                found.append(dataclasses.replace(report, reconciliation=None))
                found.append(await services.usage.report(guild, ADMIN, period, member_id=member))
                found.append(await services.usage.export_csv(guild, ADMIN, period))
            found.append(await services.avatars.page(guild, 0, per_page=3))
            found.append(await services.avatars.page(guild, 1, per_page=3))
        await services.identity.stop()  # the bot is stopped before the copy, as the README says
    return found


async def test_the_bot_on_the_copy_answers_as_it_did_on_the_file(
    production_sandbox: Sandbox, target: str, tmp_path: Path
) -> None:
    source = tmp_path / "bot.db"
    history = await populated(source)
    guilds = [history.busy_guild, history.quiet_guild]
    before = await answers(production_sandbox, source, guilds, history.busy_member)
    copy_database(source, target, alive_within=30)
    after = await answers(production_sandbox, target, guilds, history.busy_member)
    assert len(after) == len(before)
    for was, now in zip(before, after, strict=True):
        assert now == was
    # and the answers compared are not empty ones
    reports = [answer for answer in before if isinstance(answer, UsageReport)]
    assert any(report.totals.settled_sessions for report in reports)
    assert any(report.totals.live_sessions for report in reports)
    assert any(answer.rows for answer in before if isinstance(answer, CsvExport))
    assert all(answer.total for answer in before if isinstance(answer, AvatarPage))
