"""Live sessions from reservation to settlement.

RESERVED (the reservation is written, Runway not called yet) -> OPEN (a Runway session exists)
-> SETTLED (its real seconds recorded) or RELEASED (ended before costing anything). Every
transition is a conditional UPDATE from the states it may leave, so repeating one (a retry, a
tracker resumed after a crash) changes nothing and never counts a session twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from bot.settings import Dialect
from bot.storage.admission import AdmissionPolicy, Period, PeriodUsage, UsageQuery, UsageSnapshot
from bot.storage.common import Clock, unix_now
from bot.storage.database import Database
from bot.storage.errors import NotFoundError
from bot.storage.intents import NewIntent, insert_intent
from bot.storage.transaction import Row, WriteTx


class SessionState(StrEnum):
    RESERVED = "RESERVED"
    OPEN = "OPEN"
    SETTLED = "SETTLED"
    RELEASED = "RELEASED"


class EndReason(StrEnum):
    MEMBER_ENDED = "member_ended"  # the member hung up or ran /session end
    COMPLETED = "completed"  # Runway reported it completed on its own
    TIME_LIMIT = "time_limit"  # its maximum elapsed
    FAILED = "failed"  # Runway reported it failed
    CANCELLED = "cancelled"  # cancelled by an admin or the bot
    NEVER_READY = "never_ready"  # Runway never made it ready
    START_FAILED = "start_failed"  # creating it at Runway failed
    ABANDONED = "abandoned"  # a crash left a reservation whose fate is unknown


LIVE_STATES = (SessionState.RESERVED, SessionState.OPEN)


@dataclass(frozen=True, slots=True)
class NewSession:
    guild_id: int
    member_id: int
    avatar_label: str
    dialect: Dialect
    max_seconds: int
    avatar_id: int | None = None  # one of avatar_id and preset_id
    preset_id: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    guild_id: int
    member_id: int
    avatar_id: int | None  # None for a preset, or once the avatar is deleted
    preset_id: str | None
    avatar_label: str
    runway_id: str | None
    dialect: Dialect
    state: SessionState
    max_seconds: int
    used_seconds: int | None
    end_reason: EndReason | None
    join_code_hash: bytes | None
    code_expires_at: int | None
    code_used_at: int | None
    seed_credentials: str | None  # JSON, seed dialect only, dropped when the session ends
    consumed_at: int | None
    created_at: int
    ended_at: int | None
    owner: int | None = None
    """The process that made the reservation (None for rows from before schema 3)."""
    join_secret_hash: bytes | None = None
    join_credentials: bytes | None = None
    """Encrypted under the joining browser's secret; only while the session is live."""

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


class SessionRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def reserve(
        self,
        new: NewSession,
        policy: AdmissionPolicy,
        *,
        owner: int | None = None,
        intent: NewIntent | None = None,
    ) -> Session:
        """Check the limits and record the reservation in one `BEGIN IMMEDIATE` transaction,
        owned by process `owner`, with the intent to create it at Runway when given (its
        `record_id` becomes the reservation's id).

        Raises `LimitReached` (from the policy) to refuse, and `NotFoundError` if `avatar_id`
        is not an avatar of the guild.
        """
        now = self._clock()
        query = policy.usage_query(now)

        def body(tx: WriteTx) -> Session:
            if new.avatar_id is not None and (
                tx.fetch_one(
                    "SELECT 1 FROM avatars WHERE guild_id = ? AND id = ?",
                    (new.guild_id, new.avatar_id),
                )
                is None
            ):
                raise NotFoundError(f"avatar {new.avatar_id} not found in this guild")
            policy.admit(new, _usage(tx, new.guild_id, new.member_id, query), now)
            row = tx.fetch_one(
                "INSERT INTO sessions (guild_id, member_id, avatar_id, preset_id, avatar_label,"
                " dialect, max_seconds, created_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (
                    new.guild_id, new.member_id, new.avatar_id, new.preset_id, new.avatar_label,
                    new.dialect, new.max_seconds, now, owner,
                ),
            )  # fmt: skip
            assert row is not None, "INSERT ... RETURNING returns the row"
            if intent is not None and owner is not None:
                insert_intent(tx, replace(intent, record_id=row[0]), owner, now)
            return _reservation(row[0], new, now, owner)

        return await self._db.write(body)

    async def mark_open(
        self,
        session_id: int,
        *,
        runway_id: str,
        join_code_hash: bytes,
        code_expires_at: int,
        seed_credentials: str | None = None,
    ) -> Session | None:
        """Record the Runway session and its join code; None unless it was RESERVED."""
        return await self._write_returning(
            "UPDATE sessions SET state = 'OPEN', runway_id = ?, join_code_hash = ?,"
            " code_expires_at = ?, seed_credentials = ? WHERE id = ? AND state = 'RESERVED'"
            " RETURNING *",
            (runway_id, join_code_hash, code_expires_at, seed_credentials, session_id),
        )

    async def release(self, session_id: int, reason: EndReason) -> bool:
        """End a live session at no cost; False if it had already ended."""
        return await self._write_changed(
            "UPDATE sessions SET state = 'RELEASED', end_reason = ?, ended_at = ?,"
            " seed_credentials = NULL WHERE id = ? AND state IN ('RESERVED', 'OPEN')",
            (reason, self._clock(), session_id),
        )

    async def note_runway_id(self, session_id: int, runway_id: str) -> bool:
        """Record the Runway session a released reservation turned out to have (found by
        reconciliation after its answer was lost), so the books name every Runway session."""
        return await self._write_changed(
            "UPDATE sessions SET runway_id = ? WHERE id = ? AND runway_id IS NULL"
            " AND state IN ('RELEASED', 'SETTLED')",
            (runway_id, session_id),
        )

    async def release_owned_by(self, owners: list[int], reason: EndReason) -> list[int]:
        """Release the reservations (never sent to Runway) of processes that are gone."""
        if not owners:
            return []
        marks = ",".join("?" * len(owners))
        now = self._clock()
        rows = await self._db.write(
            lambda tx: tx.fetch_all(
                "UPDATE sessions SET state = 'RELEASED', end_reason = ?, ended_at = ?"  # noqa: S608 - only placeholders
                f" WHERE state = 'RESERVED' AND owner IN ({marks}) AND NOT EXISTS ("
                " SELECT 1 FROM runway_intents i WHERE i.kind = 'session'"
                " AND i.record_id = sessions.id AND i.state IN ('PENDING', 'UNSURE'))"
                " RETURNING id",
                (reason, now, *owners),
            )
        )
        return [int(row[0]) for row in rows]

    async def settle(
        self, session_id: int, *, used_seconds: int, end_reason: EndReason, ended_at: int
    ) -> bool:
        """Replace the reservation with the real seconds; False if it had already ended.

        Settling twice (a retry, a resumed tracker) therefore never counts twice.
        """
        return await self._write_changed(
            "UPDATE sessions SET state = 'SETTLED', used_seconds = ?, end_reason = ?,"
            " ended_at = ?, seed_credentials = NULL WHERE id = ? AND state IN ('RESERVED', 'OPEN')",
            (used_seconds, end_reason, ended_at, session_id),
        )

    async def use_join_code(
        self, code_hash: bytes, now: int, *, secret_hash: bytes | None = None
    ) -> Session | None:
        """Use up a join code: the session the first time, None if used, expired or unknown.

        `secret_hash` binds the code to the browser that used it, so that browser alone can
        rejoin the call later (see `store_join_credentials`).
        """
        return await self._write_returning(
            "UPDATE sessions SET code_used_at = ?, join_secret_hash = ? WHERE join_code_hash = ?"
            " AND code_used_at IS NULL AND code_expires_at > ? AND state = 'OPEN' RETURNING *",
            (now, secret_hash, code_hash, now),
        )

    async def store_join_credentials(self, session_id: int, sealed: bytes) -> bool:
        """Keep the call's credentials, sealed, for a rejoin while the session is live."""
        return await self._write_changed(
            "UPDATE sessions SET join_credentials = ? WHERE id = ? AND state = 'OPEN'",
            (sealed, session_id),
        )

    async def mark_consumed(self, session_id: int, consumed_at: int) -> bool:
        """Record when the member received the credentials (first time only)."""
        return await self._write_changed(
            "UPDATE sessions SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL"
            " AND state = 'OPEN'",
            (consumed_at, session_id),
        )

    async def by_id(self, session_id: int) -> Session | None:
        """Any guild's session, for the bot's own bookkeeping (never for a member's input)."""
        row = await self._db.fetch_one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return None if row is None else _session(row)

    async def runway_ids_known(self, runway_ids: list[str]) -> set[str]:
        """Which of these Runway sessions the bot has recorded."""
        if not runway_ids:
            return set()
        marks = ",".join("?" * len(runway_ids))
        rows = await self._db.fetch_all(
            f"SELECT runway_id FROM sessions WHERE runway_id IN ({marks})",  # noqa: S608 - only placeholders
            tuple(runway_ids),
        )
        return {str(row[0]) for row in rows}

    async def get(self, guild_id: int, session_id: int) -> Session | None:
        row = await self._db.fetch_one(
            "SELECT * FROM sessions WHERE guild_id = ? AND id = ?", (guild_id, session_id)
        )
        return None if row is None else _session(row)

    async def find_by_join_code(self, code_hash: bytes) -> Session | None:
        """Look a code up without using it (showing the join page must not use it up)."""
        row = await self._db.fetch_one(
            "SELECT * FROM sessions WHERE join_code_hash = ?", (code_hash,)
        )
        return None if row is None else _session(row)

    async def open_sessions(self) -> list[Session]:
        """Every live session of every guild, oldest first: what the tracker resumes."""
        return await self._select(
            "SELECT * FROM sessions WHERE state IN ('RESERVED', 'OPEN') ORDER BY id", ()
        )

    async def live_for_guild(self, guild_id: int) -> list[Session]:
        return await self._select(
            "SELECT * FROM sessions WHERE guild_id = ? AND state IN ('RESERVED', 'OPEN')"
            " ORDER BY id",
            (guild_id,),
        )

    async def live_for_member(self, guild_id: int, member_id: int) -> list[Session]:
        return await self._select(
            "SELECT * FROM sessions WHERE guild_id = ? AND member_id = ?"
            " AND state IN ('RESERVED', 'OPEN') ORDER BY id",
            (guild_id, member_id),
        )

    async def in_period(
        self, guild_id: int, period: Period, *, member_id: int | None = None
    ) -> list[Session]:
        """The sessions started in `period`, oldest first (e.g. for a CSV export)."""
        return await self._select(
            "SELECT * FROM sessions WHERE guild_id = ? AND created_at >= ? AND created_at < ?"
            " AND (?4 IS NULL OR member_id = ?4) ORDER BY created_at, id",
            (guild_id, period.start, period.end, member_id),
        )

    async def _select(self, sql: str, params: tuple[int | None, ...]) -> list[Session]:
        return [_session(row) for row in await self._db.fetch_all(sql, params)]

    async def _write_returning(
        self, sql: str, params: tuple[int | str | bytes | None, ...]
    ) -> Session | None:
        row = await self._db.write(lambda tx: tx.fetch_one(sql, params))
        return None if row is None else _session(row)

    async def _write_changed(self, sql: str, params: tuple[int | str | bytes | None, ...]) -> bool:
        return await self._db.write(lambda tx: tx.execute(sql, params) > 0)


_LIVE_COUNTS = """
SELECT count(*), count(*) FILTER (WHERE member_id = :member)
FROM sessions WHERE guild_id = :guild AND state IN ('RESERVED', 'OPEN')
"""

_PERIOD_SECONDS = """
SELECT coalesce(sum(charge), 0), coalesce(sum(charge) FILTER (WHERE member_id = :member), 0)
FROM (
    SELECT member_id,
           CASE state WHEN 'SETTLED' THEN used_seconds WHEN 'RELEASED' THEN 0
                      ELSE max_seconds END AS charge
    FROM sessions WHERE guild_id = :guild AND created_at >= :start AND created_at < :end
)
"""

_MEMBER_LAST_END = """
SELECT max(ended_at) FROM sessions
WHERE guild_id = :guild AND member_id = :member AND state = 'SETTLED'
"""


def _usage(tx: WriteTx, guild_id: int, member_id: int, query: UsageQuery) -> UsageSnapshot:
    """Read what the policy needs; each statement is one indexed lookup on this thread."""
    ids = {"guild": guild_id, "member": member_id}
    live = tx.fetch_one(_LIVE_COUNTS, ids)
    assert live is not None, "an aggregate always returns a row"
    periods: dict[Period, PeriodUsage] = {}
    for period in query.periods:
        row = tx.fetch_one(_PERIOD_SECONDS, ids | {"start": period.start, "end": period.end})
        assert row is not None, "an aggregate always returns a row"
        periods[period] = PeriodUsage(guild_seconds=row[0], member_seconds=row[1])
    last_end = tx.fetch_one(_MEMBER_LAST_END, ids) if query.member_last_end else None
    return UsageSnapshot(
        guild_live=live[0],
        member_live=live[1],
        periods=periods,
        member_last_ended_at=None if last_end is None else last_end[0],
    )


def _reservation(session_id: int, new: NewSession, now: int, owner: int | None) -> Session:
    """The row a reservation just inserted, built without reading it back: reserving is the hot
    path, and every other column starts empty."""
    return Session(
        id=session_id,
        guild_id=new.guild_id,
        member_id=new.member_id,
        avatar_id=new.avatar_id,
        preset_id=new.preset_id,
        avatar_label=new.avatar_label,
        runway_id=None,
        dialect=new.dialect,
        state=SessionState.RESERVED,
        max_seconds=new.max_seconds,
        used_seconds=None,
        end_reason=None,
        join_code_hash=None,
        code_expires_at=None,
        code_used_at=None,
        seed_credentials=None,
        consumed_at=None,
        created_at=now,
        ended_at=None,
        owner=owner,
    )


def _session(row: Row) -> Session:
    end_reason = row["end_reason"]
    return Session(
        id=row["id"],
        guild_id=row["guild_id"],
        member_id=row["member_id"],
        avatar_id=row["avatar_id"],
        preset_id=row["preset_id"],
        avatar_label=row["avatar_label"],
        runway_id=row["runway_id"],
        dialect=Dialect(row["dialect"]),
        state=SessionState(row["state"]),
        max_seconds=row["max_seconds"],
        used_seconds=row["used_seconds"],
        end_reason=None if end_reason is None else EndReason(end_reason),
        join_code_hash=row["join_code_hash"],
        code_expires_at=row["code_expires_at"],
        code_used_at=row["code_used_at"],
        seed_credentials=row["seed_credentials"],
        consumed_at=row["consumed_at"],
        created_at=row["created_at"],
        ended_at=row["ended_at"],
        owner=row["owner"],
        join_secret_hash=row["join_secret_hash"],
        join_credentials=row["join_credentials"],
    )
