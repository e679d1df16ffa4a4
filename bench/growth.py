"""Costs against history: each hot operation on databases of 10k, 100k and 1M sessions.

Each database is shaped like a public instance after a year (tests/support/history.py): 1,000
servers, 20,000 members, 12 months of settled sessions, one busy server holding 13 % of them
(and of the members), a few live calls, every limit set in the busy server. It is built as a
bulk load in one transaction, as the migration would leave it (the fill time is printed), then
ANALYZE. Runway answers at once (an in-process stand-in: no network in the figures).

Every operation is timed on the busy server, on all three sizes in turn, round after round, so
the sizes share the machine's conditions; per size it prints the median, p90 and the spread
(min-max), then the 1M/10k ratio of the medians. The baseline of each ratio is the same code on
the 10k database, measured in the same rounds. Goals: start, /quota show and the tracker's sweep
1M/10k <= 1.5; /usage over 12 months <= 150 ms at 1M. Then, on the 1M copy, a start's p99 while
year reports run back to back on a read connection, against its idle p99 (goal <= 2x), and
what a timezone change of the busy server costs (it moves two months of its days).

`--engine postgres` runs it on a throwaway PostgreSQL server holding the same rows (built as
on SQLite, then copied with COPY; see bench/engines.py); "ANALYZE" is PostgreSQL's then.

    python -m bench.growth [--sizes 10000,100000,1000000] [--rounds 30] [--starts 400]
                           [--engine sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from bench.common import machine, percentile
from bench.engines import ENGINES, Bench
from bot.runway.client import RunwayClient
from bot.runway.models import RealtimeSession, SessionStatus, Usage
from bot.services.actors import Actor
from bot.services.container import Services, build_services
from bot.services.usage_reports import ReportPeriod
from bot.settings import Dialect
from bot.storage import Database, EndReason, NewSession, SessionRepository
from tests.support.history import History, Shape

SIZES = (10_000, 100_000, 1_000_000)


class InstantRunway(RunwayClient):
    """Runway answering at once: what the tracker and reconciliation ask, never sent."""

    async def get_session(self, session_id: str) -> RealtimeSession:
        return RealtimeSession(id=session_id, status=SessionStatus.RUNNING)

    async def usage(self, start: datetime, end: datetime) -> Usage:
        return Usage(total_seconds=0, total_sessions=0, avg_duration_seconds=0)


@dataclass
class Copy:
    size: int
    history: History
    database: Database
    services: Services
    sessions: SessionRepository
    fill_seconds: float
    megabytes: float
    samples: dict[str, list[float]] = field(default_factory=dict)
    turn: int = 0
    reserved: int | None = None  # a start's reservation, released after its timing

    @property
    def guild(self) -> int:
        return self.history.busy_guild

    @property
    def admin(self) -> Actor:
        return Actor(user_id=self.history.busy_members[-1], manages_guild=True)

    def next_member(self) -> Actor:
        """A different member each start (one live call each is the busy server's limit)."""
        self.turn += 1
        members = self.history.busy_members
        return Actor(user_id=members[100 + self.turn % (len(members) - 100)])


Operation = Callable[[Copy], Awaitable[None]]


async def start(copy: Copy) -> None:
    """/session start's database work: one transaction that fits the call to the budgets and
    reserves it."""
    actor = copy.next_member()
    admission = await copy.sessions.admit(
        NewSession(
            guild_id=copy.guild,
            member_id=actor.user_id,
            avatar_label="Cooking Teacher",
            preset_id="cooking-teacher",
            dialect=Dialect.PRODUCTION,
            max_seconds=300,
        ),
        copy.services.quotas.start_policy(actor, lambda seconds: seconds),
    )
    reserved = admission.session
    assert reserved is not None, f"the growth bench's starts are admitted: {admission.refusal}"
    copy.reserved = reserved.id


async def quota_show(copy: Copy) -> None:
    await copy.services.quotas.allowance(copy.guild, copy.next_member())


async def sweep(copy: Copy) -> None:
    await copy.services.tracker.sweep()


async def usage_month(copy: Copy) -> None:
    await copy.services.usage.report(copy.guild, copy.admin, ReportPeriod.THIS_MONTH)


async def usage_year(copy: Copy) -> None:
    await copy.services.usage.report(copy.guild, copy.admin, ReportPeriod.LAST_12_MONTHS)


async def csv_month(copy: Copy) -> None:
    await copy.services.usage.export_csv(copy.guild, copy.admin, ReportPeriod.THIS_MONTH)


OPERATIONS: dict[str, tuple[Operation, str]] = {
    "/session start (plan + reserve)": (start, "1M/10k <= 1.5"),
    "/quota show": (quota_show, "1M/10k <= 1.5"),
    "tracker sweep": (sweep, "1M/10k <= 1.5"),
    "/usage this month (service)": (usage_month, ""),
    "/usage last 12 months (service)": (usage_year, "<= 150 ms at 1M"),
    "CSV export, this month": (csv_month, "(lists every session)"),
}


async def timed(copy: Copy, name: str, operation: Operation) -> float:
    began = time.perf_counter()
    await operation(copy)
    elapsed = time.perf_counter() - began
    await release(copy)
    copy.samples.setdefault(name, []).append(elapsed)
    return elapsed


async def release(copy: Copy) -> None:
    """A start's reservation ends at no cost, outside the timing: live rows stay few."""
    if copy.reserved is not None:
        await copy.sessions.release(copy.reserved, EndReason.START_FAILED)
        copy.reserved = None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def report(copies: list[Copy]) -> None:
    print()
    header = "".join(f"{f'{c.size // 1000}k median':>13}{'p90':>9}{'spread':>17}" for c in copies)
    print(f"  {'operation (busy server)':34}{header}   1M/10k   goal")
    for name, (_, goal) in OPERATIONS.items():
        cells = ""
        medians = []
        for copy in copies:
            values = copy.samples[name]
            median = statistics.median(values)
            medians.append(median)
            spread = f"{min(values) * 1000:.2f}-{max(values) * 1000:.2f}"
            cells += f"{ms(median)} ms{ms(percentile(values, 0.9))}{spread:>17}"
        ratio = medians[-1] / medians[0]
        print(f"  {name:34}{cells}   {ratio:5.2f}x   {goal}")


async def contention(copy: Copy, starts: int, blocks: int = 4) -> None:
    """Starts one after another, in blocks that alternate between an idle bot and one running
    year reports back to back (so both see the same machine conditions); pooled p50 and p99."""
    idle: list[float] = []
    busy: list[float] = []
    reports = 0
    for block in range(2 * blocks):
        stop = asyncio.Event()
        loaded = block % 2 == 1

        async def reporting(stop: asyncio.Event = stop) -> None:
            nonlocal reports
            while not stop.is_set():
                await usage_year(copy)
                reports += 1

        background = asyncio.create_task(reporting()) if loaded else None
        await asyncio.sleep(0.02)
        into = busy if loaded else idle
        into += [await timed(copy, "contention", start) for _ in range(starts // blocks)]
        stop.set()
        if background is not None:
            await background
    idle_p99, busy_p99 = percentile(idle, 0.99), percentile(busy, 0.99)
    print(
        f"\n  {copy.size:,} sessions, {len(idle)} starts idle and {len(busy)} while {reports} "
        f"year reports ran back to back on a read connection (blocks of {starts // blocks}, "
        f"alternating):\n    idle p50 {ms(percentile(idle, 0.5)).strip()} ms, p99 "
        f"{ms(idle_p99).strip()} ms; during reports p50 {ms(percentile(busy, 0.5)).strip()} ms, "
        f"p99 {ms(busy_p99).strip()} ms; p99 ratio {busy_p99 / idle_p99:.2f}x (goal <= 2x)"
    )


async def open_copy(stack: list[Callable[[], Awaitable[None]]], bench: Bench, size: int) -> Copy:
    began = time.perf_counter()
    target, history = await bench.history(
        f"history_{size}", Shape(sessions=size, now=int(time.time()))
    )
    fill = time.perf_counter() - began
    database_cm = Database.open(target)
    database = await database_cm.__aenter__()
    runway_cm = InstantRunway(
        base_url="http://127.0.0.1:9", api_key=SecretStr("never-sent"), dialect=Dialect.PRODUCTION
    )
    runway = await runway_cm.__aenter__()
    # The history has a few dozen calls live; the account's slots are counted (that read is
    # timed with every start) but set high enough that none is refused for them.
    services = await build_services(
        database, runway, join_base_url="http://127.0.0.1", session_max_seconds=300,
        max_live_per_guild=50, runway_max_live_sessions=1_000,
    )  # fmt: skip

    async def close() -> None:
        await services.close()
        await runway_cm.__aexit__(None, None, None)
        await database_cm.__aexit__(None, None, None)

    stack.append(close)
    megabytes = bench.size_mb(target)
    return Copy(size, history, database, services, SessionRepository(database), fill, megabytes)


async def main(sizes: list[int], rounds: int, starts: int, engine: str) -> None:
    print(
        f"growth on {engine}: {len(OPERATIONS)} operations x {rounds} rounds on {len(sizes)} "
        "databases, sizes interleaved in every round; Runway answers at once"
    )
    print(f"machine: {machine()}")
    closers: list[Callable[[], Awaitable[None]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as scratch:
        bench = Bench.start(engine, Path(scratch))
        try:
            copies = []
            for size in sizes:
                copy = await open_copy(closers, bench, size)
                copies.append(copy)
                print(
                    f"  {size:>9,} sessions: filled in {copy.fill_seconds:5.1f} s (one "
                    f"transaction{'' if engine == 'sqlite' else ', copied by COPY'}, then "
                    f"ANALYZE), {copy.megabytes:6.1f} MB"
                )
            for copy in copies:  # warm each copy's caches and the chart-free code paths once
                for operation, _ in OPERATIONS.values():
                    await operation(copy)
                    await release(copy)
            for turn in range(rounds):
                order = copies[turn % len(copies) :] + copies[: turn % len(copies)]
                for name, (operation, _) in OPERATIONS.items():
                    for copy in order:
                        await timed(copy, name, operation)
            report(copies)
            largest = copies[-1]
            await contention(largest, starts)
            began = time.perf_counter()
            await largest.services.quotas.set_timezone(largest.guild, largest.admin, "Asia/Tokyo")
            print(
                f"  timezone change of the busy server at {largest.size:,} sessions (moves its "
                "calls of this and last month to their new days): "
                f"{(time.perf_counter() - began) * 1000:.0f} ms in one write transaction"
            )
        finally:
            for close in reversed(closers):
                await close()
            bench.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default=",".join(str(size) for size in SIZES), help="sessions per database"
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--starts", type=int, default=800, help="starts idle, and as many during reports"
    )
    parser.add_argument("--engine", choices=ENGINES, default="sqlite")
    options = parser.parse_args()
    asyncio.run(
        main(
            [int(size) for size in options.sizes.split(",")],
            options.rounds,
            options.starts,
            options.engine,
        )
    )
