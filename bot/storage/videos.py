"""Avatar video requests from admission to settlement (schema 6).

AWAITING_APPROVAL (waits in the review channel, nothing reserved) -> RESERVED (admitted, its
estimate counts against the limits; the intent to call Runway is written in the same
transaction) -> RENDERING (Runway's task id recorded) -> POSTING (finished at Runway; the bot is
posting it) -> SETTLED (the seconds it really cost) or RELEASED (it cost nothing). Every
transition is a conditional UPDATE from the states it may leave, so repeating one (a retry, a
tracker resumed after a restart) changes nothing and nothing is counted twice. Ending a video
rolls it up in the same transaction (a trigger of the schema).

Admission reads the server's and the member's charges of the day (rollups of ended videos plus
the estimates of live ones), the member's videos in flight and their last admitted request in
one statement (`bot.storage.video_charges`) inside the reservation's `BEGIN IMMEDIATE`
transaction, so no burst overshoots.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from bot.storage.admission import Period
from bot.storage.common import FORGOTTEN_MEMBER, Clock, SqlValue, unix_now
from bot.storage.database import Database
from bot.storage.errors import InUseError, NotFoundError
from bot.storage.hot import hot
from bot.storage.intents import NewIntent, insert_intent
from bot.storage.privacy import personal_data
from bot.storage.rollups import forget_member
from bot.storage.transaction import Row, WriteTx
from bot.storage.video_charges import VideoFacts, read_video_facts


class VideoState(StrEnum):
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    RESERVED = "RESERVED"
    RENDERING = "RENDERING"
    POSTING = "POSTING"
    SETTLED = "SETTLED"
    RELEASED = "RELEASED"


LIVE_VIDEO_STATES = (VideoState.RESERVED, VideoState.RENDERING, VideoState.POSTING)


class VideoEnd(StrEnum):
    POSTED = "posted"  # the video was posted as a file
    LINKED = "linked"  # too large for the server's uploads: posted as a link button
    FAILED = "failed"  # Runway could not render it
    CANCELLED = "cancelled"  # the member (or a manager) cancelled it
    TIMED_OUT = "timed_out"  # Runway never finished it: the bot cancelled it
    REJECTED = "rejected"  # an admin rejected the request
    START_FAILED = "start_failed"  # Runway refused it, or never received it
    ABANDONED = "abandoned"  # a lost answer nobody can settle (reported to admins)
    UNPOSTABLE = "unpostable"  # rendered, but the channel took no post (told the member)


@dataclass(frozen=True, slots=True)
class NewVideo:
    guild_id: int
    channel_id: int
    member_id: int
    avatar_label: str
    estimate_seconds: int
    upload_limit: int
    text: str | None = None
    voice_preset: str | None = None
    audio_seconds: int | None = None
    avatar_id: int | None = None  # one of avatar_id and preset_id
    preset_id: str | None = None


@dataclass(frozen=True, slots=True)
class Video:
    id: int
    guild_id: int
    channel_id: int
    member_id: int
    avatar_id: int | None
    preset_id: str | None
    avatar_label: str
    text: str | None
    voice_preset: str | None
    audio_seconds: int | None
    state: VideoState
    estimate_seconds: int
    used_seconds: int | None
    cost_credits: int | None
    runway_id: str | None
    upload_limit: int
    message_id: int | None
    review_message_id: int | None
    reviewed_by: int | None
    end_reason: VideoEnd | None
    failure: str | None
    owner: int | None
    created_at: int
    counted_at: int
    submitted_at: int | None
    ended_at: int | None

    @property
    def live(self) -> bool:
        return self.state in LIVE_VIDEO_STATES


@dataclass(frozen=True, slots=True)
class VideoTotals:
    videos: int
    seconds: int


class VideoAdmission(Protocol):
    """Decides inside the reservation's transaction: quick arithmetic that raises
    `LimitReached` to refuse."""

    def day(self, now: int) -> Period: ...

    def admit(self, seconds: int, facts: VideoFacts, now: int) -> None: ...


class VideoRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def facts(self, guild_id: int, member_id: int, day: Period) -> VideoFacts:
        """What admission would read now (`/quota show`); a view, never a promise."""
        return await self._db.write(lambda tx: read_video_facts(tx, guild_id, member_id, day, None))

    async def request(
        self,
        new: NewVideo,
        policy: VideoAdmission,
        *,
        owner: int,
        intent: NewIntent | None,
        audio: tuple[str, bytes] | None = None,
    ) -> Video:
        """Admit and record a request in one transaction: RESERVED with the intent to call
        Runway when `intent` is given; otherwise AWAITING_APPROVAL, keeping `audio` (mime,
        bytes) until an admin decides. Raises `LimitReached` to refuse."""
        now = self._clock()

        def body(tx: WriteTx) -> Video:
            _check_avatar(tx, new.guild_id, new.avatar_id)
            facts = read_video_facts(tx, new.guild_id, new.member_id, policy.day(now), None)
            policy.admit(new.estimate_seconds if intent else 0, facts, now)
            state = VideoState.RESERVED if intent else VideoState.AWAITING_APPROVAL
            row = tx.fetch_one(
                _INSERT,
                {
                    "guild": new.guild_id, "channel": new.channel_id, "member": new.member_id,
                    "avatar": new.avatar_id, "preset": new.preset_id, "label": new.avatar_label,
                    "speech": "text" if new.text is not None else "audio", "text": new.text,
                    "voice": new.voice_preset, "audio_seconds": new.audio_seconds,
                    "state": state, "estimate": new.estimate_seconds,
                    "upload_limit": new.upload_limit, "owner": owner, "now": now,
                },
            )  # fmt: skip
            assert row is not None, "INSERT ... RETURNING returns the row"
            video = _video(row)
            if intent is not None:
                insert_intent(tx, replace(intent, record_id=video.id), owner, now)
            elif audio is not None:
                tx.execute(
                    "INSERT INTO video_audio (video_id, mime, data) VALUES (:id, :mime, :data)",
                    {"id": video.id, "mime": audio[0], "data": audio[1]},
                )
            return video

        return await self._db.write(body)

    async def approve(
        self,
        guild_id: int,
        video_id: int,
        policy: VideoAdmission,
        *,
        reviewer: int,
        owner: int,
        intent: NewIntent,
    ) -> Video | None:
        """Admit a waiting request now (it counts from now) with its intent; None if it was
        not waiting any more. Raises `LimitReached` to refuse (it keeps waiting)."""
        now = self._clock()

        def body(tx: WriteTx) -> Video | None:
            waiting = tx.fetch_one(_GET, {"guild": guild_id, "video_id": video_id})
            if waiting is None or waiting["state"] != VideoState.AWAITING_APPROVAL:
                return None
            video = _video(waiting)
            facts = read_video_facts(tx, guild_id, video.member_id, policy.day(now), video.id)
            policy.admit(video.estimate_seconds, facts, now)
            row = tx.fetch_one(
                _APPROVE,
                {"video_id": video_id, "reviewer": reviewer, "owner": owner, "now": now},
            )
            assert row is not None, "read as waiting in this transaction"
            insert_intent(tx, replace(intent, record_id=video_id), owner, now)
            return _video(row)

        return await self._db.write(body)

    async def audio(self, video_id: int) -> tuple[str, bytes] | None:
        row = await self._db.fetch_one(
            "SELECT mime, data FROM video_audio WHERE video_id = :id", {"id": video_id}
        )
        return None if row is None else (str(row[0]), bytes(row[1]))

    async def drop_audio(self, video_id: int) -> None:
        await self._db.write(
            lambda tx: tx.execute("DELETE FROM video_audio WHERE video_id = :id", {"id": video_id})
        )

    async def mark_rendering(self, video_id: int, runway_id: str) -> Video | None:
        """Record Runway's task: the first thing done with its answer. None unless RESERVED."""
        return await self._write_returning(
            _MARK_RENDERING,
            {"video_id": video_id, "runway_id": runway_id, "now": self._clock()},
        )

    async def claim_posting(self, video_id: int) -> Video | None:
        """Runway finished it: this process posts it. None if someone else already did."""
        return await self._write_returning(_CLAIM_POSTING, {"video_id": video_id})

    async def settle(
        self,
        video_id: int,
        *,
        used_seconds: int,
        cost_credits: int | None,
        end: VideoEnd,
        message_id: int | None = None,
        failure: str | None = None,
    ) -> Video | None:
        """Replace the estimate with what it cost; None if it had already ended."""
        return await self._write_returning(
            _SETTLE,
            {
                "video_id": video_id, "used": used_seconds, "credits": cost_credits,
                "reason": end, "message_id": message_id, "failure": failure,
                "now": self._clock(),
            },
        )  # fmt: skip

    async def release(
        self,
        video_id: int,
        end: VideoEnd,
        *,
        failure: str | None = None,
        reviewer: int | None = None,
        runway_id: str | None = None,
    ) -> Video | None:
        """End a request (waiting or live) at no cost; None if it had already ended."""
        return await self._write_returning(
            _RELEASE,
            {
                "video_id": video_id, "reason": end, "failure": failure, "reviewer": reviewer,
                "runway_id": runway_id, "now": self._clock(),
            },
        )  # fmt: skip

    async def set_review_message(self, video_id: int, message_id: int | None) -> None:
        await self._db.write(
            lambda tx: tx.execute(
                "UPDATE videos SET review_message_id = :message WHERE id = :id",
                {"message": message_id, "id": video_id},
            )
        )

    async def get(self, guild_id: int, video_id: int) -> Video | None:
        row = await self._db.fetch_one(_GET, {"guild": guild_id, "video_id": video_id})
        return None if row is None else _video(row)

    async def by_id(self, video_id: int) -> Video | None:
        """Any guild's video, for the bot's own bookkeeping (never for a member's input)."""
        row = await self._db.fetch_one(_BY_ID, {"video_id": video_id})
        return None if row is None else _video(row)

    async def open_videos(self) -> list[Video]:
        """Every live video of every guild, oldest first: what the tracker follows."""
        return [_video(row) for row in await self._db.fetch_all(_OPEN, {})]

    async def totals(
        self, guild_id: int, period: Period, *, member_id: int | None = None
    ) -> VideoTotals:
        """Settled videos and their seconds in whole local days of `period` (the rollups)."""
        params = {"guild": guild_id, "member": member_id, "start": period.start, "end": period.end}
        sql = _GUILD_TOTALS if member_id is None else _MEMBER_TOTALS
        row = await self._db.fetch_one(sql, params)
        assert row is not None, "an aggregate always returns a row"
        return VideoTotals(videos=int(row[0]), seconds=int(row[1]))

    async def _write_returning(self, sql: str, params: dict[str, SqlValue]) -> Video | None:
        row = await self._db.write(lambda tx: tx.fetch_one(sql, params))
        return None if row is None else _video(row)


def _check_avatar(tx: WriteTx, guild_id: int, avatar_id: int | None) -> None:
    if avatar_id is not None and (
        tx.fetch_one(_GUILD_AVATAR, {"guild": guild_id, "avatar": avatar_id}) is None
    ):
        raise NotFoundError(f"avatar {avatar_id} not found in this guild")


def _video(row: Row) -> Video:
    return Video(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        member_id=row["member_id"],
        avatar_id=row["avatar_id"],
        preset_id=row["preset_id"],
        avatar_label=row["avatar_label"],
        text=row["text"],
        voice_preset=row["voice_preset"],
        audio_seconds=row["audio_seconds"],
        state=VideoState(row["state"]),
        estimate_seconds=row["estimate_seconds"],
        used_seconds=row["used_seconds"],
        cost_credits=row["cost_credits"],
        runway_id=row["runway_id"],
        upload_limit=row["upload_limit"],
        message_id=row["message_id"],
        review_message_id=row["review_message_id"],
        reviewed_by=row["reviewed_by"],
        end_reason=VideoEnd(row["end_reason"]) if row["end_reason"] else None,
        failure=row["failure"],
        owner=row["owner"],
        created_at=row["created_at"],
        counted_at=row["counted_at"],
        submitted_at=row["submitted_at"],
        ended_at=row["ended_at"],
    )


@personal_data(
    "avatar videos", "videos.member_id", "videos.reviewed_by", "rollup_video_member_days.member_id"
)
def _forget_videos(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """A member's requests (with their texts) go; their seconds stay in the server's totals
    under FORGOTTEN_MEMBER. Refused while one is in flight: it may still be charged."""
    ids = {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER}
    if tx.fetch_one(_IN_FLIGHT, ids) is not None:
        raise InUseError(
            "an avatar video in progress", until="Wait until it is posted, or cancel it"
        )
    forget_member(tx, guild_id, member_id)
    tx.execute(
        "UPDATE videos SET reviewed_by = :forgotten WHERE guild_id = :guild"
        " AND reviewed_by = :member",
        ids,
    )
    return tx.execute(
        "DELETE FROM videos WHERE guild_id = :guild AND member_id = :member"
        " AND state IN ('SETTLED', 'RELEASED')",
        ids,
    )


_GUILD_AVATAR = "SELECT 1 FROM avatars WHERE id = :avatar AND guild_id = :guild"

_INSERT = hot(
    "video request: record it",
    """
    INSERT INTO videos (guild_id, channel_id, member_id, avatar_id, preset_id, avatar_label,
                        speech, text, voice_preset, audio_seconds, state, estimate_seconds,
                        upload_limit, owner, created_at, counted_at)
    VALUES (:guild, :channel, :member, :avatar, :preset, :label, :speech, :text, :voice,
            :audio_seconds, :state, :estimate, :upload_limit, :owner, :now, :now)
    RETURNING *
    """,
    reads={},
)

_APPROVE = """
UPDATE videos SET state = 'RESERVED', counted_at = :now, reviewed_by = :reviewer, owner = :owner
WHERE id = :video_id AND state = 'AWAITING_APPROVAL'
RETURNING *
"""

_LIVE_BY_ID = {"videos.pk": None, "videos_open": None}
"""A live video by id: its primary key, or the index of live videos by id."""

_MARK_RENDERING = hot(
    "video request: record Runway's task",
    """
    UPDATE videos SET state = 'RENDERING', runway_id = :runway_id, submitted_at = :now
    WHERE id = :video_id AND state = 'RESERVED'
    RETURNING *
    """,
    reads=_LIVE_BY_ID,
)

_CLAIM_POSTING = hot(
    "video tracker: claim a finished video for posting",
    "UPDATE videos SET state = 'POSTING' WHERE id = :video_id AND state = 'RENDERING' RETURNING *",
    reads=_LIVE_BY_ID,
)

_SETTLE = hot(
    "video tracker: settle a video to what it cost",
    """
    UPDATE videos SET state = 'SETTLED', used_seconds = :used, cost_credits = :credits,
        end_reason = :reason, message_id = coalesce(:message_id, message_id),
        failure = :failure, ended_at = :now
    WHERE id = :video_id AND state IN ('RENDERING', 'POSTING')
    RETURNING *
    """,
    reads=_LIVE_BY_ID,
)

_RELEASE = hot(
    "video request: end it at no cost",
    """
    UPDATE videos SET state = 'RELEASED', end_reason = :reason, failure = :failure,
        reviewed_by = coalesce(:reviewer, reviewed_by),
        runway_id = coalesce(runway_id, :runway_id), cost_credits = 0, ended_at = :now
    WHERE id = :video_id AND state NOT IN ('SETTLED', 'RELEASED')
    RETURNING *
    """,
    reads={"videos.pk": None},
)

_GET = hot(
    "a server's video by id (its buttons)",
    "SELECT * FROM videos WHERE id = :video_id AND guild_id = :guild",
    reads={"videos.pk": None},
)

_BY_ID = hot(
    "video tracker: a video by id",
    "SELECT * FROM videos WHERE id = :video_id",
    reads={"videos.pk": None},
)

_OPEN = hot(
    "video tracker: every live video",
    "SELECT * FROM videos WHERE state IN ('RESERVED', 'RENDERING', 'POSTING') ORDER BY id",
    reads={"videos_open": None},
)

_IN_FLIGHT = hot(
    "privacy: a member's video in flight",
    """
    SELECT 1 FROM videos WHERE guild_id = :guild AND member_id = :member
      AND state IN ('AWAITING_APPROVAL', 'RESERVED', 'RENDERING', 'POSTING') LIMIT 1
    """,
    reads={"videos_live": None},
)

_GUILD_TOTALS = hot(
    "/usage, alerts: a server's settled videos of a period",
    """
    SELECT coalesce(sum(videos), 0), coalesce(sum(seconds), 0) FROM rollup_video_days
    WHERE guild_id = :guild AND day_start >= :start AND day_start < :end
    """,
    reads={"rollup_video_days.pk": "day_start>"},
)

_MEMBER_TOTALS = hot(
    "/usage: a member's settled videos of a period",
    """
    SELECT coalesce(sum(videos), 0), coalesce(sum(seconds), 0) FROM rollup_video_member_days
    WHERE guild_id = :guild AND member_id = :member AND day_start >= :start AND day_start < :end
    """,
    reads={"rollup_video_member_days.pk": "day_start>"},
)
