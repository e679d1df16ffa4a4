"""Stress: 1,000 concurrent starts over 50 servers, then rounds of starts racing settles.

Every limit is low (3 live calls per server, 1 per member, 15 min a day per server, 20 min a
month, 4 min a day per member or 7 with a role, 1 min between a member's calls, 3 min per
call), servers sit in five timezones, and the clock crosses local midnights, a DST change
and a month's end meanwhile. Starts go to the Runway sandbox over loopback HTTP, some fail there.
While it runs a watcher samples the live sessions; afterwards the books are audited: no limit
ever overshot, nothing left dangling here or at Runway, every report equal to the sessions
really settled.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.errors import RunwayError
from bot.runway.models import SessionStatus
from bot.runway.retry import RetryPolicy
from bot.runway.sandbox import Sandbox
from bot.services.quotas import QuotaService, default_limits
from bot.storage import (
    Database,
    EndReason,
    GuildSettingsRepository,
    LimitReached,
    Period,
    Session,
    SessionRepository,
    UsageRepository,
)
from bot.storage.books import BooksRepository
from bot.storage.quotas import QuotaName, QuotaRepository
from bot.storage.rollups import differences
from tests.runway.conftest import SANDBOX_KEY, fast_config
from tests.storage.conftest import FakeClock
from tests.stress.books import LOW, Server, audit, configure, pick_used, servers, start

pytestmark = pytest.mark.slow

SERVERS = 50
MEMBERS = 8
BURST = 1_000
ROUNDS = 20
ROUND_STARTS = 120
# 20:00 UTC on 30 March 2024; the rounds then run the clock some 30 hours on, across Paris's
# 23-hour day (clocks went forward on the 31st), local midnights and the end of March.
T0 = int(datetime(2024, 3, 30, 20, tzinfo=UTC).timestamp())
EVERYTHING = Period(0, 2**40)


class Rig:
    def __init__(
        self, db: Database, db_path: str | Path, runway: RunwayClient, sandbox: Sandbox
    ) -> None:
        self.db = db
        self.db_path = db_path
        self.runway = runway
        self.sandbox = sandbox
        self.clock = FakeClock(T0)
        self.sessions = SessionRepository(db, self.clock)
        self.quotas = QuotaService(
            quotas=QuotaRepository(db, self.clock),
            guilds=GuildSettingsRepository(db, self.clock),
            defaults=default_limits(max_live_per_guild=3, session_max_seconds=300),
            clock=self.clock,
        )
        self.settled: Counter[int] = Counter()  # seconds per guild, as this test settled them
        self.refused: Counter[str] = Counter()  # by the limit that refused
        self.failed = 0

    async def try_start(
        self, server: Server, member: int, wanted: int, *, delay: float = 0.0
    ) -> Session | None:
        await asyncio.sleep(delay)
        try:
            return await start(
                self.quotas, self.sessions, self.runway, server, member, wanted, self.clock() + 600
            )
        except LimitReached as refusal:
            self.refused[refusal.limit] += 1
        except RunwayError:  # Runway refused: the reservation was released
            self.failed += 1
        return None

    async def settle(self, session: Session, rng: random.Random) -> None:
        """End the call at Runway and book what it cost, as the tracker does."""
        assert session.runway_id is not None
        await self.runway.cancel_session(session.runway_id)
        used = pick_used(session, rng)
        if await self.sessions.settle(
            session.id, used_seconds=used, end_reason=EndReason.COMPLETED, ended_at=self.clock()
        ):
            self.settled[session.guild_id] += used


@pytest.fixture
async def rig(database_target: str | Path) -> AsyncIterator[Rig]:
    """On each engine in turn (one process: the group commit serialises admission)."""
    sandbox = Sandbox(dialect="production", api_key=SANDBOX_KEY, config=fast_config())
    async with (
        sandbox.serve(host="127.0.0.1", port=0),
        Database.open(database_target) as db,
        RunwayClient(
            base_url=sandbox.base_url,
            api_key=SecretStr(SANDBOX_KEY),
            retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        ) as runway,
    ):
        yield Rig(db, database_target, runway, sandbox)


async def watch_live(db: Database, stop: asyncio.Event) -> int:
    """Sample live sessions per server and member until `stop`; fail on any overshoot."""
    samples = 0
    while not stop.is_set():
        rows = await db.fetch_all(
            "SELECT guild_id, member_id, count(*) FROM sessions"
            " WHERE state IN ('RESERVED', 'OPEN') GROUP BY guild_id, member_id"
        )
        per_guild: Counter[int] = Counter()
        for guild, _, count in rows:
            assert count <= LOW[QuotaName.MEMBER_LIVE], f"a member of {guild} had {count} live"
            per_guild[guild] += count
        fullest = max(per_guild.values(), default=0)
        assert fullest <= LOW[QuotaName.GUILD_LIVE], per_guild.most_common(1)
        samples += 1
        await asyncio.sleep(0.005)
    return samples


async def test_a_thousand_concurrent_starts_never_overshoot(rig: Rig) -> None:
    rng = random.Random(20240331)
    plan = servers(SERVERS, MEMBERS)
    await asyncio.gather(*(configure(rig.quotas, server, LOW) for server in plan))
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_live(rig.db, stop))
    began = time.monotonic()

    # The burst: 1,000 starts at once, 20 per server, members asking more than once.
    burst = [
        (server, rng.choice(server.members), rng.choice([60, 180, 300]))
        for server in plan
        for _ in range(BURST // SERVERS)
    ]
    rig.sandbox.inject("POST", "/v1/realtime_sessions", status=500, times=15)
    opened = await asyncio.gather(*(rig.try_start(*attempt) for attempt in burst))
    live = [session for session in opened if session is not None]
    burst_seconds = time.monotonic() - began
    assert len(live) <= 3 * SERVERS
    assert rig.failed == 15
    assert rig.refused.total() == BURST - len(live) - rig.failed
    audit(rig.db_path, plan, LOW)

    # Rounds: half the live calls end while new starts race them; time moves on between.
    for _ in range(ROUNDS):
        ending = [session for session in live if rng.random() < 0.6]
        live = [session for session in live if session not in ending]
        attempts = [
            (server, rng.choice(server.members), rng.choice([60, 120, 180, 300]))
            for server in rng.choices(plan, k=ROUND_STARTS)
        ]
        # Starts are spread over a tenth of a second, so some land after a settle (a start is
        # one trip to the database; a settle asks Runway first) and meet its cooldown.
        results = await asyncio.gather(
            *(rig.settle(session, rng) for session in ending),
            *(rig.try_start(*attempt, delay=rng.random() / 10) for attempt in attempts),
        )
        live += [result for result in results if isinstance(result, Session)]
        audit(rig.db_path, plan, LOW)
        rig.clock.now += rng.choice([60, 3600, 7200, 10_800])
    await asyncio.gather(*(rig.settle(session, rng) for session in live))
    stop.set()
    samples = await watcher
    elapsed = time.monotonic() - began

    books = audit(rig.db_path, plan, LOW)
    assert set(rig.refused) == {
        "guild_live",
        "member_live",
        "guild_day",
        "guild_month",
        "member_day",
        "cooldown",
    }  # every limit was hit
    assert books.live == 0, "a reservation was left dangling"
    assert books.sessions == books.settled + books.released
    # Nothing is left running at Runway either.
    rows = await rig.db.fetch_all("SELECT runway_id FROM sessions WHERE runway_id IS NOT NULL")
    statuses = await asyncio.gather(*(rig.runway.get_session(row[0]) for row in rows))
    assert {status.status for status in statuses} <= {SessionStatus.CANCELLED}
    # Reports equal the sessions settled, server by server and for the account.
    usage = UsageRepository(rig.db)
    for server in plan:
        totals = await usage.totals(server.guild_id, EVERYTHING)
        assert totals.settled_seconds == rig.settled[server.guild_id]
        assert totals.live_sessions == 0
    account = await BooksRepository(rig.db).account_totals(EVERYTHING, rig.runway.rules.dialect)
    assert account.settled_seconds == books.settled_seconds == sum(rig.settled.values())
    # Every rollup, recomputed from the sessions, equals the one kept as they ended.
    assert await rig.db.read(differences) == {}
    print(
        f"\nstress: {BURST + ROUNDS * ROUND_STARTS} starts over {SERVERS} servers, "
        f"burst of {BURST} in {burst_seconds:.2f} s, all in {elapsed:.1f} s; "
        f"{books.settled} settled ({books.settled_seconds} s), {books.released} released, "
        f"{rig.refused.total()} refused by a limit ({dict(rig.refused)}), "
        f"{rig.failed} failed at Runway; "
        f"fullest server day {books.peak_day_share:.0%} of its budget; "
        f"{samples} live samples, 0 overshoot, 0 dangling"
    )
