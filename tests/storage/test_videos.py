"""Video requests in storage: admission in one transaction, idempotent transitions, rollups
kept by the trigger and moved with a timezone, and erasure."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.storage import Database, GuildSettingsRepository, LimitReached, Period
from bot.storage.common import unix_now
from bot.storage.errors import InUseError
from bot.storage.intents import IntentRepository, IntentState, NewIntent, ProcessRepository
from bot.storage.privacy import PrivacyRepository
from bot.storage.rollups import differences
from bot.storage.sqlite.functions import register_functions
from bot.storage.video_charges import VideoFacts
from bot.storage.videos import NewVideo, VideoEnd, VideoRepository, VideoState

from .conftest import T0, FakeClock
from .test_plans import HotQuery, plan, problems

GUILD = 10
DAY = Period(T0 - T0 % 86_400, T0 - T0 % 86_400 + 86_400)


@dataclass
class DayCap:
    """At most `cap` seconds a day for the server; one request in flight per member."""

    cap: int

    def day(self, now: int) -> Period:
        return DAY

    def admit(self, seconds: int, facts: VideoFacts, now: int) -> None:
        if facts.member_in_flight >= 1:
            raise LimitReached("video_in_flight", 1, facts.member_in_flight)
        if facts.guild_day_seconds + seconds > self.cap:
            raise LimitReached("video_guild_day", self.cap, facts.guild_day_seconds)


def new(member: int = 1, seconds: int = 20, text: str | None = "Hello there") -> NewVideo:
    return NewVideo(
        guild_id=GUILD,
        channel_id=5,
        member_id=member,
        avatar_label="Runway preset",
        estimate_seconds=seconds,
        upload_limit=10 * 1024 * 1024,
        text=text,
        preset_id="influencer",
        audio_seconds=None if text else 3,
    )


def intent(member: int = 1) -> NewIntent:
    return NewIntent(
        kind="video", guild_id=GUILD, member_id=member, name="x", fingerprint=b"f", decide_after=0
    )


@pytest.fixture
async def owner(db: Database) -> int:
    return await ProcessRepository(db).register()


@pytest.fixture
def videos(db: Database, clock: FakeClock) -> VideoRepository:
    return VideoRepository(db, clock)


async def test_a_burst_never_overshoots_the_day(videos: VideoRepository, owner: int) -> None:
    results = await asyncio.gather(
        *(
            videos.request(new(member), DayCap(100), owner=owner, intent=intent(member))
            for member in range(1, 11)
        ),
        return_exceptions=True,
    )
    admitted = [r for r in results if not isinstance(r, BaseException)]
    assert len(admitted) == 5  # 5 x 20 s fill the 100 s
    assert all(isinstance(r, LimitReached) for r in results if isinstance(r, BaseException))


async def test_transitions_happen_once_and_settle_into_the_rollups(
    videos: VideoRepository, owner: int, db: Database
) -> None:
    video = await videos.request(new(), DayCap(100), owner=owner, intent=intent())
    assert video.state is VideoState.RESERVED
    assert await IntentRepository(db).for_record("video", video.id)
    rendering = await videos.mark_rendering(video.id, "task-1")
    assert rendering is not None
    assert rendering.state is VideoState.RENDERING
    assert await videos.mark_rendering(video.id, "task-2") is None
    assert await videos.claim_posting(video.id) is not None
    assert await videos.claim_posting(video.id) is None
    settled = await videos.settle(video.id, used_seconds=7, cost_credits=3, end=VideoEnd.POSTED)
    assert settled is not None
    assert settled.used_seconds == 7
    assert (
        await videos.settle(video.id, used_seconds=9, cost_credits=3, end=VideoEnd.POSTED) is None
    )
    assert await videos.release(video.id, VideoEnd.CANCELLED) is None
    totals = await videos.totals(GUILD, DAY)
    assert (totals.videos, totals.seconds) == (1, 7)
    facts = await videos.facts(GUILD, 1, DAY)
    assert (facts.member_in_flight, facts.guild_day_seconds, facts.member_last_at) == (0, 7, T0)
    assert await db.read(differences) == {}


async def test_approval_waits_without_counting_then_counts_from_its_approval(
    videos: VideoRepository, owner: int, clock: FakeClock
) -> None:
    waiting = await videos.request(
        new(text=None), DayCap(100), owner=owner, intent=None, audio=("audio/ogg", b"OggS...")
    )
    assert waiting.state is VideoState.AWAITING_APPROVAL
    assert (await videos.facts(GUILD, 1, DAY)).guild_day_seconds == 0
    assert await videos.audio(waiting.id) == ("audio/ogg", b"OggS...")
    with pytest.raises(LimitReached):  # one request in flight per member
        await videos.request(new(), DayCap(100), owner=owner, intent=intent())
    clock.now += 60
    approved = await videos.approve(
        GUILD, waiting.id, DayCap(100), reviewer=9, owner=owner, intent=intent()
    )
    assert approved is not None
    assert (approved.state, approved.counted_at, approved.reviewed_by) == (
        VideoState.RESERVED,
        T0 + 60,
        9,
    )
    assert (
        await videos.approve(
            GUILD, waiting.id, DayCap(100), reviewer=9, owner=owner, intent=intent()
        )
        is None
    )
    await videos.drop_audio(waiting.id)
    assert await videos.audio(waiting.id) is None


async def test_rejected_request_costs_nothing_and_erasure_waits_for_flight(
    videos: VideoRepository, owner: int, db: Database
) -> None:
    waiting = await videos.request(new(), DayCap(100), owner=owner, intent=None)
    privacy = PrivacyRepository(db)
    with pytest.raises(InUseError):
        await privacy.forget(GUILD, 1)
    released = await videos.release(waiting.id, VideoEnd.REJECTED, reviewer=9)
    assert released is not None
    assert released.cost_credits == 0
    live = await videos.request(new(), DayCap(100), owner=owner, intent=intent())
    await videos.mark_rendering(live.id, "task-9")
    intents = IntentRepository(db)
    await intents.resolve(
        await intents.for_record("video", live.id), IntentState.ADOPTED, "created"
    )
    await videos.settle(live.id, used_seconds=4, cost_credits=2, end=VideoEnd.LINKED)
    erased = await privacy.forget(GUILD, 1)
    assert erased["avatar videos"] == 2
    assert (await videos.totals(GUILD, DAY)).seconds == 4  # the server's figures stay
    assert (await videos.totals(GUILD, DAY, member_id=0)).seconds == 4


async def test_a_timezone_change_moves_recent_videos_to_their_new_days(
    videos: VideoRepository, owner: int, db: Database, clock: FakeClock
) -> None:
    clock.now = unix_now()  # what the settings count as this month
    video = await videos.request(new(), DayCap(10**6), owner=owner, intent=intent())
    await videos.mark_rendering(video.id, "task-3")
    await videos.settle(video.id, used_seconds=5, cost_credits=2, end=VideoEnd.POSTED)
    await GuildSettingsRepository(db).update(GUILD, timezone="Asia/Kolkata")
    assert await db.read(differences) == {}


async def test_ending_a_video_reads_it_by_id(db_path: Path) -> None:
    """SQLite's plan of the trigger (PostgreSQL's: test_plans_postgres.py)."""
    async with Database.open(db_path):
        pass
    conn = sqlite3.connect(db_path)
    register_functions(conn)
    try:
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'videos_roll_up'"
        ).fetchone()
        body = sql[sql.index("BEGIN") + len("BEGIN") : sql.rindex("END")]
        statements = [part.strip() for part in body.split(";") if part.strip()]
        rolled = HotQuery(
            "trigger videos_roll_up", "", {"videos.pk": None, "guild_settings.pk": None}
        )
        found = []
        for statement in statements:
            bound = statement.replace("NEW.id", ":video_id")
            found += problems(conn, rolled, plan(conn, bound, {"video_id": 1}))
        assert len(statements) == 2
        assert not found, "\n".join(found)
    finally:
        conn.close()
