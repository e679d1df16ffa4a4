"""The cluster of issue 11, end to end with real processes, and issue 12's rolling restart.

Three bot processes (SHARD_COUNT=3, shards 0, 1 and 2) and two web-only processes
(BOT_ROLE=web) on one PostgreSQL database, one fake Discord routing each server to its
shard, one Runway sandbox (see `cluster_steps.py`). Every /session start is a real
interaction through the fake gateway to the process that runs its server's shard; every
join is a real POST to a web process; every call ends at "Runway" and is settled by whichever
process follows the calls. PostgreSQL only: the cluster needs the database they share.

Sized for CI's 2 cores: all 1,000 starts are real interactions, but sent 40 a second (25 s)
rather than at one instant, because at 100 a second or all at once the three processes on two
shared cores acknowledged some after Discord's 3 s (measured: 3.2 s and 4.9 s), which the
fake refuses as Discord does. The waiting line is served for LINE_PATIENCE_SECONDS, then the
members still in it leave with `/session end`, which bounds the module's run time (about
2.5 minutes measured here on a shared 2-core machine).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.runway.sandbox import Sandbox
from bot.runway.sandbox.errors import SandboxError
from bot.storage.quotas import QuotaName
from tests.e2e.cluster_steps import (
    SHARDS,
    STUCK,
    Cluster,
    LiveWatcher,
    Race,
    codes_sent,
    join_page_answers,
    live_sessions,
    peak_overlap,
    race_redeem,
    start_call,
    summaries,
    tracker_leader,
    until,
    waiting,
    waiting_members,
)
from tests.e2e.database import connect, rows, target
from tests.e2e.session_steps import PRESET, SESSIONS_ROUTE, run
from tests.fakediscord import FakeDiscord, Guild, Member, Message
from tests.stress.books import Rules, Server, audit

pytestmark = pytest.mark.slow

GUILDS = 50
MEMBERS = 10
STARTS_EACH = 2  # every member asks twice at once: 1,000 starts
ACCOUNT_LIVE = 20  # RUNWAY_MAX_LIVE_SESSIONS, the most Runway's tiers allow
# Sent this fast, the 1,000 starts take 25 s and hundreds are in flight at once; sent all at
# the same instant (or at 100 a second), the three processes on two shared cores acknowledge
# some after Discord's 3 s, which the fake refuses as Discord would.
STARTS_PER_SECOND = 40
CALL_SECONDS = 40  # how long each joined call lasts at Runway
LINE_PATIENCE_SECONDS = 30.0  # then members still in line leave it (see settle_everything)
LIMITS = Rules(
    limits={
        QuotaName.GUILD_LIVE: 1,
        QuotaName.MEMBER_LIVE: 1,
        QuotaName.GUILD_DAY: 60,
        QuotaName.GUILD_MONTH: 600,
        QuotaName.MEMBER_DAY: 60,
        QuotaName.COOLDOWN: 0,
        QuotaName.SESSION: 60,
    },
    tier_seconds=60,
)


@pytest.fixture(scope="module")
def e2e_engine() -> str:
    return "postgres"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(discord_spec: Path, runway: Sandbox, bot_workdir: Path) -> AsyncIterator[Cluster]:
    async with FakeDiscord.serve(spec_path=discord_spec, max_concurrency=SHARDS) as fake:
        running = Cluster(fake, runway, bot_workdir, ACCOUNT_LIVE)
        try:
            await asyncio.gather(*(running.start_bot(shard) for shard in range(SHARDS)))
            await asyncio.gather(running.start_web(), running.start_web())
            yield running
        finally:
            codes = await running.stop()
        assert set(codes.values()) == {0}, (codes, running.tails())
        fake.assert_honest()


def set_limits(workdir: Path, guild_ids: list[int], rules: Rules) -> None:
    """Each server's limits, as `/quota set` stores them."""
    with connect(workdir) as books:
        for guild_id in guild_ids:
            for name, value in rules.limits.items():
                books.fetch_all(
                    "INSERT INTO guild_quotas (guild_id, name, value, updated_by, updated_at) "
                    "VALUES (?, ?, ?, 1, 0)",
                    (guild_id, name.value, value),
                )


async def leave_line(fake: FakeDiscord, member: Member, place: int) -> None:
    """`/session end` by a member in line, paced like the starts."""
    await asyncio.sleep(place / STARTS_PER_SECOND)
    await run(fake, "session end", member)


async def settle_everything(
    cluster: Cluster,
    members: dict[tuple[int, int], Member],
    *,
    line_patience: float,
    timeout: float,  # noqa: ASYNC109
) -> tuple[dict[str, Race], int]:
    """Until no call is live and nobody waits: every join code the bot DMs is raced on both
    web processes at once, and every call joined ends at Runway after CALL_SECONDS. Members
    still waiting in line after `line_patience` seconds leave it with `/session end`, which
    bounds the test's time; how many left is returned beside the races."""
    races: dict[str, Race] = {}
    ended: set[str] = set()
    began = time.monotonic()
    left = 0
    while True:
        live = live_sessions(cluster.workdir)
        if not live and waiting(cluster.workdir) == 0:
            return races, left
        if time.monotonic() - began > line_patience:
            tired = [
                members[r["guild_id"], r["member_id"]] for r in waiting_members(cluster.workdir)
            ]
            await asyncio.gather(*(leave_line(cluster.fake, m, n) for n, m in enumerate(tired)))
            left += len(tired)
        assert time.monotonic() < began + timeout, (
            f"{len(live)} calls still live, {waiting(cluster.workdir)} waiting:\n{live[:5]}\n"
            + cluster.tails()
        )
        fresh = {
            code
            for row in live
            if row["state"] == "OPEN"
            for code in codes_sent(cluster.fake, members[row["guild_id"], row["member_id"]])  # type: ignore[index]
            if code not in races
        }
        answers = await asyncio.gather(*(race_redeem(cluster.web_ports, code) for code in fresh))
        races.update(zip(fresh, answers, strict=True))
        for row in live:
            runway_id = row["runway_id"]
            if isinstance(runway_id, str) and runway_id not in ended and row["consumed_at"]:
                try:
                    cluster.runway.end_session(runway_id, after_seconds=CALL_SECONDS)
                except SandboxError as error:  # ended already (time up, cancelled): 409
                    if error.status != 409:
                        raise
                ended.add(runway_id)
        await asyncio.sleep(0.3)


@dataclass
class Burst:
    """What the 1,000 starts did, for the tests that judge it."""

    cluster: Cluster
    guilds: list[Guild]
    members: dict[tuple[int, int], Member]
    replies: list[tuple[Member, str, Message]]
    left_the_line: int  # members still waiting after LINE_PATIENCE_SECONDS
    races: dict[str, Race]
    sessions: list[dict[str, Any]]
    watcher: LiveWatcher
    runway_peak: int  # the most calls live at Runway at once
    figures: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def burst(cluster: Cluster) -> Burst:
    """1,000 /session starts over 50 servers on three shards, every limit low, sent at
    STARTS_PER_SECOND so that every one is in flight with hundreds of others; then every call
    joined (each code raced on both web processes) and ended, and the waiting line served,
    until nothing is live and nobody waits."""
    fake, workdir = cluster.fake, cluster.workdir
    guilds = [
        await fake.create_guild(f"Cluster {n}", shard=(n % SHARDS, SHARDS), system_channel=False)
        for n in range(GUILDS)
    ]
    set_limits(workdir, [g.id for g in guilds], LIMITS)
    members = {
        (guild.id, member.user.id): member
        for guild in guilds
        for member in (fake.create_member(guild, f"m{n}") for n in range(MEMBERS))
    }
    starts = [member for member in members.values() for _ in range(STARTS_EACH)]
    random.Random(11).shuffle(starts)

    began = time.monotonic()
    with LiveWatcher(workdir) as watcher:
        outcomes = await asyncio.gather(
            *(
                start_call(fake, member, after=n / STARTS_PER_SECOND)
                for n, member in enumerate(starts)
            )
        )
        burst_seconds = time.monotonic() - began
        races, left = await settle_everything(
            cluster, members, line_patience=LINE_PATIENCE_SECONDS, timeout=120
        )
    total_seconds = time.monotonic() - began
    sessions = rows(
        workdir,
        "SELECT * FROM sessions WHERE guild_id = ANY(?) ORDER BY id",
        ([g.id for g in guilds],),
    )
    counts = Counter(outcome for outcome, _ in outcomes)
    figures = (
        f"{len(starts)} starts in {burst_seconds:.1f} s: {dict(sorted(counts.items()))}; "
        f"{len(sessions)} sessions, {len(races)} codes raced, {left} left the line; all settled "
        f"{total_seconds:.1f} s after the first start; peak live: Runway "
        f"{cluster.runway.peak_live_sessions}, watcher {watcher.account}; sessions by end: "
        f"{dict(Counter((s['state'], s['end_reason']) for s in sessions))}"
    )
    print(figures)
    replies = [(m, o, r) for m, (o, r) in zip(starts, outcomes, strict=True)]
    return Burst(
        cluster=cluster,
        guilds=guilds,
        members=members,
        replies=replies,
        left_the_line=left,
        races=races,
        sessions=sessions,
        watcher=watcher,
        runway_peak=cluster.runway.peak_live_sessions,
        figures=figures,
    )


async def test_a_thousand_starts_on_three_processes_overshoot_no_limit(burst: Burst) -> None:
    """No limit overshot (the books, a watcher of the live sessions, Runway's own peak),
    nothing left dangling, each server's totals equal to its settled sessions."""
    workdir = burst.cluster.workdir
    counts = Counter(outcome for _, outcome, _ in burst.replies)
    assert not [o for o in counts if o.startswith("other")], burst.figures
    assert counts["admitted"] == ACCOUNT_LIVE, burst.figures
    assert counts["waited"] > 0, burst.figures

    # No limit overshot: the books, the watcher, and Runway's own count.
    plan = [
        Server(g.id, "UTC", tuple(m for (gid, m) in burst.members if gid == g.id), frozenset())
        for g in burst.guilds
    ]
    books = audit(target(workdir), plan, LIMITS)
    assert burst.runway_peak <= ACCOUNT_LIVE, burst.figures
    assert peak_overlap([(s["created_at"], s["ended_at"]) for s in burst.sessions]) <= ACCOUNT_LIVE
    for guild in burst.guilds:
        held = [
            (s["created_at"], s["ended_at"]) for s in burst.sessions if s["guild_id"] == guild.id
        ]
        assert peak_overlap(held) <= LIMITS[QuotaName.GUILD_LIVE]
    assert burst.watcher.account <= ACCOUNT_LIVE
    assert max(burst.watcher.guild.values(), default=0) <= LIMITS[QuotaName.GUILD_LIVE]
    assert max(burst.watcher.member.values(), default=0) <= LIMITS[QuotaName.MEMBER_LIVE]

    # Nothing dangling: no reservation, no place in line, no live call at Runway.
    assert books.live == 0
    assert books.sessions == books.settled + books.released
    assert waiting(workdir) == 0
    assert not rows(workdir, "SELECT * FROM held_usage")
    assert not rows(workdir, "SELECT * FROM runway_intents WHERE resolved_at IS NULL")
    statuses = burst.cluster.runway.inventory()["sessions"].values()
    assert not [s for s in statuses if s in ("NOT_READY", "READY", "RUNNING")]

    # Every server's totals equal its settled sessions.
    totals = {
        r["guild_id"]: (r["settled"], r["seconds"])
        for r in rows(
            workdir,
            "SELECT guild_id, sum(settled) AS settled, sum(seconds) AS seconds "
            "FROM rollup_guild_days GROUP BY guild_id",
        )
    }
    for guild in burst.guilds:
        settled = [
            s for s in burst.sessions if s["guild_id"] == guild.id and s["state"] == "SETTLED"
        ]
        expected = (len(settled), sum(s["used_seconds"] for s in settled))
        assert totals.get(guild.id, (0, 0)) == expected, guild.id


async def test_each_join_code_is_redeemed_once_though_both_web_processes_are_asked(
    burst: Burst,
) -> None:
    """Every code the bot sent was POSTed to both web processes at the same moment: one
    gave the call's credentials, the other refused the code as used."""
    assert len(burst.races) >= ACCOUNT_LIVE
    assert all(race.winners == 1 for race in burst.races.values()), burst.races
    refusals = Counter(state for race in burst.races.values() for state in race.states if state)
    failures = [
        "\n".join(web.lines[n : n + 60])  # the error and its traceback
        for web in burst.cluster.webs
        for n, line in enumerate(web.lines)
        if " ERROR " in line
    ]
    assert set(refusals) <= {"used_elsewhere", "used"}, (refusals, failures[:2])
    assert sum(refusals.values()) == len(burst.races)


async def test_every_start_is_answered_and_every_turn_in_line_reaches_its_member(
    burst: Burst,
) -> None:
    """Each start got an answer (none left "thinking"); each call the cluster set up, from a
    start or a turn in line, had its link sent to its member, who got one summary of it."""
    stuck = [m.user.id for m, outcome, _ in burst.replies if outcome == STUCK]
    assert stuck == [], f"{len(stuck)} starts never answered"
    for (guild_id, member_id), member in burst.members.items():
        # A call released before it was joined (its member left the line with /session end
        # just as the turn came) may have had its link and its summary, or not.
        ended = [
            s for s in burst.sessions if (s["guild_id"], s["member_id"]) == (guild_id, member_id)
        ]
        settled = [s for s in ended if s["state"] == "SETTLED"]
        codes = len(codes_sent(burst.cluster.fake, member))
        told = len(summaries(burst.cluster.fake, member))
        assert len(settled) <= codes <= len(ended), (guild_id, member_id, ended)
        assert len(settled) <= told <= len(ended), (guild_id, member_id, ended)


async def open_calls(cluster: Cluster, name: str, count: int) -> list[Member]:
    """`count` calls, one per new server over every shard, each joined through a web
    process (the other refused the same code at the same moment)."""
    fake = cluster.fake
    guilds = [
        await fake.create_guild(f"{name} {n}", shard=(n % SHARDS, SHARDS), system_channel=False)
        for n in range(count)
    ]
    callers = [fake.create_member(guild, "caller") for guild in guilds]
    outcomes = await asyncio.gather(*(start_call(fake, member) for member in callers))
    assert [outcome for outcome, _ in outcomes] == ["admitted"] * count, outcomes
    for member in callers:
        (code,) = codes_sent(fake, member)
        assert (await race_redeem(cluster.web_ports, code)).winners == 1
    return callers


def calls_of(cluster: Cluster, callers: list[Member]) -> list[dict[str, object]]:
    return rows(
        cluster.workdir,
        "SELECT * FROM sessions WHERE member_id = ANY(?) ORDER BY id",
        ([m.user.id for m in callers],),
    )


def end_at_runway(cluster: Cluster, calls: list[dict[str, object]]) -> None:
    for call in calls:
        cluster.runway.end_session(str(call["runway_id"]), after_seconds=CALL_SECONDS)


async def settled_once(cluster: Cluster, callers: list[Member], *, timeout: float) -> float:  # noqa: ASYNC109
    """Until every call of `callers` is settled for CALL_SECONDS with one summary DM each;
    the seconds it took. A second summary arriving a moment later fails too."""

    def done() -> bool:
        calls = calls_of(cluster, callers)
        return all(c["state"] == "SETTLED" for c in calls) and all(
            len(summaries(cluster.fake, m)) >= 1 for m in callers
        )

    took = await until("every call settled with its summary", done, timeout)
    await asyncio.sleep(1.0)
    calls = calls_of(cluster, callers)
    assert [(c["state"], c["used_seconds"]) for c in calls] == [("SETTLED", CALL_SECONDS)] * len(
        callers
    ), calls
    assert [len(summaries(cluster.fake, m)) for m in callers] == [1] * len(callers)
    return took


async def test_the_tracker_leader_killed_mid_call_a_survivor_settles_each_call_once(
    cluster: Cluster,
) -> None:
    """SIGKILL the process holding the tracker's lease while calls run, which then end at
    Runway: a survivor takes the lease and settles each call once, one summary DM each,
    within 30 s of the kill."""
    callers = await open_calls(cluster, "Failover", 6)
    leader = tracker_leader(cluster.workdir)
    assert leader is not None, "no process holds the tracker's lease"
    shard, victim = cluster.process(leader)
    killed = time.monotonic()
    victim.process.send_signal(signal.SIGKILL)
    assert await victim.process.wait() == -signal.SIGKILL
    cluster.retired.append(victim)
    del cluster.bots[shard]
    end_at_runway(cluster, calls_of(cluster, callers))

    await settled_once(cluster, callers, timeout=45)
    took = time.monotonic() - killed
    survivor = tracker_leader(cluster.workdir)
    print(f"failover: every call settled {took:.1f} s after the leader (pid {leader}) was killed")
    assert took < 30
    assert survivor in {bot.pid for bot in cluster.bots.values()}
    await cluster.start_bot(shard)


async def test_a_process_killed_mid_start_its_reservation_is_released_and_runway_cancels(
    cluster: Cluster,
) -> None:
    """SIGKILL the process of a server while Runway has made its call but not yet answered:
    its replacement on the same shard releases the reservation and cancels Runway's session."""
    fake, runway = cluster.fake, cluster.runway
    guild = await fake.create_guild("Killed Start", shard=(1, SHARDS), system_channel=False)
    member = fake.create_member(guild, "caller")
    known = set(runway.inventory()["sessions"])
    runway.inject("POST", SESSIONS_ROUTE, latency=6.0, before_handler=False)
    await fake.invoke("session start", member=member, options={"avatar": PRESET, "minutes": 1})
    await until("Runway made the call", lambda: set(runway.inventory()["sessions"]) - known, 15)
    (made,) = set(runway.inventory()["sessions"]) - known
    victim = cluster.bots.pop(1)
    victim.process.send_signal(signal.SIGKILL)
    assert await victim.process.wait() == -signal.SIGKILL
    cluster.retired.append(victim)
    (call,) = calls_of(cluster, [member])
    assert call["state"] == "RESERVED"

    began = time.monotonic()
    await cluster.start_bot(1)

    def released() -> bool:
        (row,) = calls_of(cluster, [member])
        return row["state"] == "RELEASED" and runway.inventory()["sessions"][made] == "CANCELLED"

    took = await until("the reservation released and Runway's call cancelled", released, 30)
    print(f"killed start: released and cancelled {time.monotonic() - began:.1f} s after restart")
    assert took < 30
    (row,) = calls_of(cluster, [member])
    assert (row["end_reason"], row["runway_id"]) == ("start_failed", made)


async def test_a_rolling_restart_of_every_bot_process_loses_nothing(cluster: Cluster) -> None:
    """SIGTERM each bot process in turn while calls run and a start is in flight on it,
    starting its replacement on the same shard once it exits 0: every call settled once with
    one summary DM, every start in flight finished, and both web processes serve join pages
    throughout."""
    fake, runway = cluster.fake, cluster.runway
    callers = await open_calls(cluster, "Rolling", 6)
    calls = calls_of(cluster, callers)
    late: list[Member] = []
    pages = Counter[bool]()

    async def probe_pages() -> None:
        while True:
            for port in cluster.web_ports:
                pages[await join_page_answers(port)] += 1
            await asyncio.sleep(0.2)

    prober = asyncio.create_task(probe_pages())
    try:
        for shard in range(SHARDS):
            end_at_runway(cluster, calls[2 * shard : 2 * shard + 2])
            guild = await fake.create_guild(
                f"Rolling start {shard}", shard=(shard, SHARDS), system_channel=False
            )
            member = fake.create_member(guild, "late")
            late.append(member)
            runway.inject("POST", SESSIONS_ROUTE, latency=3.0, before_handler=False)
            handled = runway.handled("POST", SESSIONS_ROUTE)
            asked = asyncio.create_task(start_call(fake, member))
            await until(
                "Runway got the start",
                lambda handled=handled: runway.handled("POST", SESSIONS_ROUTE) > handled,
                15,
            )
            stopping = cluster.bots.pop(shard)
            stopping.process.send_signal(signal.SIGTERM)
            status = await asyncio.wait_for(stopping.process.wait(), 30)
            cluster.retired.append(stopping)
            assert status == 0, stopping.tail()
            outcome, reply = await asked
            assert outcome == "admitted", reply.text
            await cluster.start_bot(shard)
    finally:
        prober.cancel()
    assert pages[False] == 0, pages
    assert pages[True] > 0

    for member in late:
        (code,) = codes_sent(fake, member)
        assert (await race_redeem(cluster.web_ports, code)).winners == 1
    end_at_runway(cluster, calls_of(cluster, late))
    # A restarted process waits out its predecessor's lease (15 s) before it leads.
    took = await settled_once(cluster, callers + late, timeout=90)
    print(f"rolling restart: {len(callers) + len(late)} calls settled once; last {took:.1f} s")
