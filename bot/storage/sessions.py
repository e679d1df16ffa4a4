"""Live sessions from reservation to settlement.

RESERVED (the reservation is written, Runway not called yet) -> OPEN (a Runway session exists)
-> SETTLED (its real seconds recorded) or RELEASED (ended before costing anything). Every
transition is a conditional UPDATE from the states it may leave, so repeating one (a retry, a
tracker resumed after a crash) changes nothing and never counts a session twice.

Ending a session (settling or releasing it) rolls it up into the usage rollups in the same
transaction: a trigger of the schema does it (migration 0003), so no code path that ends a
session can forget. Every query on a hot path is registered in `bot.storage.hot`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Generic, TypeVar

from bot.settings import Dialect
from bot.storage.admission import AdmissionPolicy, FittingPolicy, Period, UsageSnapshot
from bot.storage.charges import read_usage
from bot.storage.common import Clock, SqlValue, unix_now
from bot.storage.database import Database
from bot.storage.errors import InUseError, LimitReached, NotFoundError
from bot.storage.hot import hot
from bot.storage.intents import NewIntent, insert_intent
from bot.storage.locks import LockKey
from bot.storage.outbox import OutboxRepository, announce_end
from bot.storage.privacy import personal_data
from bot.storage.quotas import StoredQuotas, stored_quotas
from bot.storage.rollups import forget_member
from bot.storage.transaction import ReadTx, Row, WriteTx
from bot.storage.wakeups import Channel
from bot.telemetry.metrics import SESSIONS_ENDED, SETTLED_SECONDS


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

P = TypeVar("P", bound=FittingPolicy)
IntentFor = Callable[[int], NewIntent]
"""The intent to write with a reservation, given the call's fitted length in seconds."""


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
    end_hint: EndReason | None = None
    """How the call ended as the join page or a command saw it, if one said."""

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


@dataclass(frozen=True, slots=True)
class Admission(Generic[P]):
    """What `SessionRepository.admit` decided: the reservation, or the limit that refused it
    (never both), with the policy the server's records made (to explain a refusal)."""

    policy: P
    session: Session | None
    refusal: LimitReached | None


class SessionRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock
        self._outbox = OutboxRepository(db, clock)

    async def admit(
        self,
        request: NewSession,
        policy_for: Callable[[StoredQuotas], P],
        *,
        owner: int | None = None,
        intent_for: IntentFor | None = None,
    ) -> Admission[P]:
        """A start, planned and reserved in one transaction under the admission lock: read the
        server's quota records, bind them into a policy (`policy_for`, pure and quick: it runs
        on the database thread), read the usage it needs, fit the call's length
        (`request.max_seconds` is what the member asked for) to what is left, check every
        limit and record the reservation, owned by process `owner`, with its intent.

        Raises `NotFoundError` if `avatar_id` is not an avatar of the guild.
        """
        now = self._clock()

        def body(tx: WriteTx) -> Admission[P]:
            if request.avatar_id is not None and not avatar_of_guild(
                tx, request.guild_id, request.avatar_id
            ):
                raise NotFoundError(f"avatar {request.avatar_id} not found in this guild")
            policy = policy_for(stored_quotas(tx, request.guild_id))
            try:
                session = admit_in(tx, request, policy, now, owner=owner, intent_for=intent_for)
            except LimitReached as limit:
                return Admission(policy, None, limit)
            return Admission(policy, session, None)

        return await self._db.write(body, lock=LockKey.ADMISSION)

    async def reserve(
        self,
        new: NewSession,
        policy: AdmissionPolicy,
        *,
        owner: int | None = None,
        intent: NewIntent | None = None,
    ) -> Session:
        """Check the limits of a fixed `policy` and record the reservation in one transaction
        under the admission lock, owned by process `owner`, with the intent to create it at
        Runway when given (its `record_id` becomes the reservation's id).

        Raises `LimitReached` (from the policy) to refuse, and `NotFoundError` if `avatar_id`
        is not an avatar of the guild.
        """
        now = self._clock()

        def body(tx: WriteTx) -> Session:
            if new.avatar_id is not None and not avatar_of_guild(tx, new.guild_id, new.avatar_id):
                raise NotFoundError(f"avatar {new.avatar_id} not found in this guild")
            usage = usage_for(tx, new, policy, now)
            policy.admit(new, usage, now)
            return insert_reservation(tx, new, now, owner=owner, intent=intent)

        return await self._db.write(body, lock=LockKey.ADMISSION)

    async def mark_open(
        self,
        session_id: int,
        *,
        runway_id: str,
        join_code_hash: bytes,
        code_expires_at: int,
        seed_credentials: str | None = None,
    ) -> Session | None:
        """Record the Runway session and its join code; None unless it was RESERVED. Wakes
        the tracker's leader, whichever process it is."""
        params: dict[str, SqlValue] = {
            "runway_id": runway_id,
            "code_hash": join_code_hash,
            "expires": code_expires_at,
            "credentials": seed_credentials,
            "session_id": session_id,
        }

        def body(tx: WriteTx) -> Row | None:
            row = tx.fetch_one(_MARK_OPEN, params)
            if row is not None:
                tx.notify(Channel.TRACKER)
            return row

        row = await self._db.write(body)
        return None if row is None else _session(row)

    async def release(self, session_id: int, reason: EndReason, *, announce: bool = False) -> bool:
        """End a live session at no cost; False if it had already ended. With `announce`,
        its end is queued to be announced once (`bot.storage.outbox`) by the same
        transaction."""
        released = await self._end(
            _RELEASE,
            {"reason": reason, "now": self._clock(), "session_id": session_id},
            announce=announce,
        )
        if released:
            SESSIONS_ENDED.labels(reason=reason.value).inc()
        return released

    async def note_runway_id(self, session_id: int, runway_id: str) -> bool:
        """Record the Runway session an ended session turned out to have (released while it
        was being set up), so the books name every Runway session."""
        return await self._write_changed(
            _NOTE_RUNWAY_ID, {"runway_id": runway_id, "session_id": session_id}
        )

    async def release_found(self, session_id: int, runway_id: str) -> bool:
        """A reservation whose start failed, and whose Runway session reconciliation found
        (and cancelled) afterwards: release it if still RESERVED and record that Runway id, in
        one transaction, so a crash never leaves one done without the other. True if it was
        released here (False: it had already ended; the id is still recorded)."""
        now = self._clock()
        released = await self._db.write(lambda tx: release_found(tx, session_id, runway_id, now))
        if released:
            SESSIONS_ENDED.labels(reason=EndReason.START_FAILED.value).inc()
        return released

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
        SESSIONS_ENDED.labels(reason=reason.value).inc(len(rows))
        return [int(row[0]) for row in rows]

    async def settle(
        self,
        session_id: int,
        *,
        used_seconds: int,
        end_reason: EndReason,
        ended_at: int,
        announce: bool = False,
    ) -> bool:
        """Replace the reservation with the real seconds; False if it had already ended.

        Settling twice (a retry, a resumed tracker, two processes) therefore never counts
        twice, and with `announce` only the settle that changed the row queues its end to be
        announced (`bot.storage.outbox`), in the same transaction.
        """
        settled = await self._end(
            _SETTLE,
            {
                "used": used_seconds,
                "reason": end_reason,
                "ended_at": ended_at,
                "session_id": session_id,
            },
            announce=announce,
        )
        if settled:
            SESSIONS_ENDED.labels(reason=end_reason.value).inc()
            SETTLED_SECONDS.inc(used_seconds)
        return settled

    async def note_end_hint(self, session_id: int, reason: EndReason) -> bool:
        """Record how an open call ended as this process learnt it (the join page reported
        it, a member or the line ended it), for whichever process settles it."""
        params: dict[str, SqlValue] = {"reason": reason, "session_id": session_id}

        def body(tx: WriteTx) -> bool:
            noted = tx.execute(_NOTE_END_HINT, params) > 0
            if noted:
                tx.notify(Channel.TRACKER)  # the leader should look now
            return noted

        return await self._db.write(body)

    async def use_join_code(
        self, code_hash: bytes, now: int, *, secret_hash: bytes | None = None
    ) -> Session | None:
        """Use up a join code: the session the first time, None if used, expired or unknown.

        `secret_hash` binds the code to the browser that used it, so that browser alone can
        rejoin the call later (see `store_join_credentials`).
        """
        return await self._write_returning(
            _USE_CODE, {"now": now, "code_hash": code_hash, "secret_hash": secret_hash}
        )

    async def store_join_credentials(self, session_id: int, sealed: bytes) -> bool:
        """Keep the call's credentials, sealed, for a rejoin while the session is live."""
        return await self._write_changed(
            "UPDATE sessions SET join_credentials = :sealed WHERE id = :session_id"
            " AND state = 'OPEN'",
            {"sealed": sealed, "session_id": session_id},
        )

    async def mark_consumed(self, session_id: int, consumed_at: int) -> bool:
        """Record when the member received the credentials (first time only)."""
        return await self._write_changed(
            _MARK_CONSUMED, {"now": consumed_at, "session_id": session_id}
        )

    async def claim_ends(self, holder: int, seconds: int) -> list[tuple[int, int]]:
        """Ends to announce, claimed by `holder` for `seconds` (see `bot.storage.outbox`)."""
        return await self._outbox.claim(holder, seconds)

    async def announced(self, session_id: int, holder: int) -> bool:
        """A claimed end was announced (or given up): never announced again."""
        return await self._outbox.done(session_id, holder)

    async def by_id(self, session_id: int) -> Session | None:
        """Any guild's session, for the bot's own bookkeeping (never for a member's input)."""
        row = await self._db.fetch_one(_BY_SESSION_ID, {"session_id": session_id})
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
        row = await self._db.fetch_one(_GET, {"guild": guild_id, "session_id": session_id})
        return None if row is None else _session(row)

    async def find_by_join_code(self, code_hash: bytes) -> Session | None:
        """Look a code up without using it (showing the join page must not use it up)."""
        row = await self._db.fetch_one(_FIND_CODE, {"code_hash": code_hash})
        return None if row is None else _session(row)

    async def open_sessions(self) -> list[Session]:
        """Every live session of every guild, oldest first: what the tracker resumes."""
        return await self._select(_OPEN, {})

    async def live_for_guild(self, guild_id: int) -> list[Session]:
        return await self._select(_LIVE_FOR_GUILD, {"guild": guild_id})

    async def live_for_member(self, guild_id: int, member_id: int) -> list[Session]:
        return await self._select(_LIVE_FOR_MEMBER, {"guild": guild_id, "member": member_id})

    async def recent_calls(
        self,
        guild_id: int,
        *,
        member_id: int | None = None,
        avatar_id: int | None = None,
        limit: int = 50,
    ) -> list[Session]:
        """A member's or an avatar's last `limit` calls in the server that ended after being
        set up at Runway, newest first (a history page, a moderator's look-up)."""
        params: dict[str, SqlValue] = {
            "guild": guild_id,
            "member": member_id,
            "avatar": avatar_id,
            "limit": limit,
        }
        sql = _MEMBER_RECENT if avatar_id is None else _AVATAR_RECENT
        return await self._select(sql, params)

    async def in_period(
        self, guild_id: int, period: Period, *, member_id: int | None = None
    ) -> list[Session]:
        """The sessions started in `period`, oldest first (a CSV export): a long read, on a
        read connection. Costs what the period holds, never the rest of the history."""
        params = {"guild": guild_id, "member": member_id, "start": period.start, "end": period.end}
        sql = _IN_PERIOD if member_id is None else _MEMBER_IN_PERIOD

        def body(tx: ReadTx) -> list[Session]:
            return [_session(row) for row in tx.fetch_all(sql, params)]

        return await self._db.read(body)

    async def _select(self, sql: str, params: dict[str, SqlValue]) -> list[Session]:
        return [_session(row) for row in await self._db.fetch_all(sql, params)]

    async def _write_returning(self, sql: str, params: dict[str, SqlValue]) -> Session | None:
        row = await self._db.write(lambda tx: tx.fetch_one(sql, params))
        return None if row is None else _session(row)

    async def _end(self, sql: str, params: dict[str, SqlValue], *, announce: bool) -> bool:
        now, session_id = self._clock(), params["session_id"]
        assert isinstance(session_id, int)

        def body(tx: WriteTx) -> bool:
            ended = tx.execute(sql, params) > 0
            if ended and announce:
                announce_end(tx, session_id, now)
            return ended

        return await self._db.write(body)

    async def _write_changed(self, sql: str, params: dict[str, SqlValue]) -> bool:
        return await self._db.write(lambda tx: tx.execute(sql, params) > 0)


_BY_ID = {"sessions.pk": None}
_LIVE_BY_ID = {"sessions.pk": None, "sessions_open": None}
"""A live session by id: its primary key, or the index of live sessions by id."""
_LIVE_ONLY = {"sessions_live": None}

_GUILD_AVATAR = hot(
    "start: the avatar belongs to the server",
    "SELECT 1 FROM avatars WHERE guild_id = :guild AND id = :avatar",
    reads={"avatars.pk": None},
)

_INSERT = """
INSERT INTO sessions (guild_id, member_id, avatar_id, preset_id, avatar_label, dialect,
                      max_seconds, created_at, owner)
VALUES (:guild, :member, :avatar, :preset, :label, :dialect, :max_seconds, :now, :owner)
RETURNING id
"""

_MARK_OPEN = hot(
    "start: record the Runway session and its join code",
    """
    UPDATE sessions SET state = 'OPEN', runway_id = :runway_id, join_code_hash = :code_hash,
        code_expires_at = :expires, seed_credentials = :credentials
    WHERE id = :session_id AND state = 'RESERVED' RETURNING *
    """,
    reads=_LIVE_BY_ID,
)

_RELEASE = hot(
    "end: release a live session",
    """
    UPDATE sessions SET state = 'RELEASED', end_reason = :reason, ended_at = :now,
        seed_credentials = NULL
    WHERE id = :session_id AND state IN ('RESERVED', 'OPEN')
    """,
    reads=_LIVE_BY_ID,
)

_RELEASE_RESERVED = """
UPDATE sessions SET state = 'RELEASED', end_reason = :reason, ended_at = :now,
    seed_credentials = NULL
WHERE id = :session_id AND state = 'RESERVED'
"""

_NOTE_RUNWAY_ID = """
UPDATE sessions SET runway_id = :runway_id
WHERE id = :session_id AND runway_id IS NULL AND state IN ('RELEASED', 'SETTLED')
"""

_SETTLE = hot(
    "end: settle a live session",
    """
    UPDATE sessions SET state = 'SETTLED', used_seconds = :used, end_reason = :reason,
        ended_at = :ended_at, seed_credentials = NULL
    WHERE id = :session_id AND state IN ('RESERVED', 'OPEN')
    """,
    reads=_LIVE_BY_ID,
)

_NOTE_END_HINT = hot(
    "end: how a call ended, as the join page or a command saw it",
    "UPDATE sessions SET end_hint = :reason WHERE id = :session_id AND state = 'OPEN'",
    reads=_LIVE_BY_ID,
)

_USE_CODE = hot(
    "join page: use up a join code",
    """
    UPDATE sessions SET code_used_at = :now, join_secret_hash = :secret_hash
    WHERE join_code_hash = :code_hash AND code_used_at IS NULL AND code_expires_at > :now
      AND state = 'OPEN'
    RETURNING *
    """,
    reads={"sessions_join_code": None},
)

_MARK_CONSUMED = hot(
    "join page: record when the credentials were handed over",
    """
    UPDATE sessions SET consumed_at = :now
    WHERE id = :session_id AND consumed_at IS NULL AND state = 'OPEN'
    """,
    reads=_LIVE_BY_ID,
)

_BY_SESSION_ID = hot(
    "a session by id (the waiting line hands its call over)",
    "SELECT * FROM sessions WHERE id = :session_id",
    reads=_BY_ID,
)

_GET = hot(
    "a session of the server by id",
    "SELECT * FROM sessions WHERE guild_id = :guild AND id = :session_id",
    reads=_BY_ID,
)

_FIND_CODE = hot(
    "join page: look a join code up",
    "SELECT * FROM sessions WHERE join_code_hash = :code_hash",
    reads={"sessions_join_code": None},
)

_OPEN = hot(
    "tracker: every live session",
    "SELECT * FROM sessions WHERE state IN ('RESERVED', 'OPEN') ORDER BY id",
    reads={"sessions_open": None},
)

_LIVE_FOR_GUILD = hot(
    "live sessions of a server",
    "SELECT * FROM sessions WHERE guild_id = :guild AND state IN ('RESERVED', 'OPEN') ORDER BY id",
    reads=_LIVE_ONLY,
)

_LIVE_FOR_MEMBER = hot(
    "live sessions of a member (/session status, /session end)",
    """
    SELECT * FROM sessions
    WHERE guild_id = :guild AND member_id = :member AND state IN ('RESERVED', 'OPEN')
    ORDER BY id
    """,
    reads=_LIVE_ONLY,
)

# Exports read a period's live sessions from the live index and its ended ones from an index of
# ended sessions by start: each index serves one half, neither walks the rest of the history.
_IN_PERIOD = hot(
    "CSV export: a server's sessions of a period",
    """
    SELECT * FROM sessions
    WHERE guild_id = :guild AND state IN ('RESERVED', 'OPEN')
      AND created_at >= :start AND created_at < :end
    UNION ALL
    SELECT * FROM sessions
    WHERE guild_id = :guild AND state IN ('SETTLED', 'RELEASED')
      AND created_at >= :start AND created_at < :end
    ORDER BY created_at, id
    """,
    reads={"sessions_live": None, "sessions_ended": "created_at>"},
)

_MEMBER_IN_PERIOD = hot(
    "CSV export: a member's sessions of a period",
    """
    SELECT * FROM sessions
    WHERE guild_id = :guild AND member_id = :member AND state IN ('RESERVED', 'OPEN')
      AND created_at >= :start AND created_at < :end
    UNION ALL
    SELECT * FROM sessions
    WHERE guild_id = :guild AND member_id = :member AND state IN ('SETTLED', 'RELEASED')
      AND created_at >= :start AND created_at < :end
    ORDER BY created_at, id
    """,
    reads={"sessions_live": None, "sessions_member_ended": "created_at>"},
)


def insert_reservation(
    tx: WriteTx, new: NewSession, now: int, *, owner: int | None, intent: NewIntent | None
) -> Session:
    """Record an admitted reservation, with the intent to create it at Runway when given (its
    `record_id` becomes the reservation's id), inside the caller's transaction."""
    row = tx.fetch_one(
        _INSERT,
        {
            "guild": new.guild_id, "member": new.member_id, "avatar": new.avatar_id,
            "preset": new.preset_id, "label": new.avatar_label, "dialect": new.dialect,
            "max_seconds": new.max_seconds, "now": now, "owner": owner,
        },
    )  # fmt: skip
    assert row is not None, "INSERT ... RETURNING returns the row"
    if intent is not None and owner is not None:
        insert_intent(tx, replace(intent, record_id=row[0]), owner, now)
    return _reservation(row[0], new, now, owner)


def release_found(tx: WriteTx, session_id: int, runway_id: str, now: int) -> bool:
    """`SessionRepository.release_found`'s unit of work: both statements or neither."""
    released = tx.execute(
        _RELEASE_RESERVED,
        {"reason": EndReason.START_FAILED, "now": now, "session_id": session_id},
    )
    tx.execute(_NOTE_RUNWAY_ID, {"runway_id": runway_id, "session_id": session_id})
    return released > 0


def admit_in(
    tx: WriteTx,
    request: NewSession,
    policy: FittingPolicy,
    now: int,
    *,
    owner: int | None,
    intent_for: IntentFor | None,
) -> Session:
    """Fit `request` (asking for `max_seconds`) to what `policy` leaves, check every limit and
    record the reservation, inside the caller's transaction, which holds the admission lock.
    Raises `LimitReached` to refuse."""
    usage = usage_for(tx, request, policy, now)
    fitted = replace(request, max_seconds=policy.fit(request.max_seconds, usage, now))
    policy.admit(fitted, usage, now)
    intent = None if intent_for is None else intent_for(fitted.max_seconds)
    return insert_reservation(tx, fitted, now, owner=owner, intent=intent)


def usage_for(tx: ReadTx, request: NewSession, policy: AdmissionPolicy, now: int) -> UsageSnapshot:
    """What `policy` needs to know to admit `request` now."""
    query = policy.usage_query(now)
    return read_usage(
        tx,
        request.guild_id,
        request.member_id,
        query.periods,
        member_last_end=query.member_last_end,
        account=query.account,
    )


def avatar_of_guild(tx: WriteTx, guild_id: int, avatar_id: int) -> bool:
    return tx.fetch_one(_GUILD_AVATAR, {"guild": guild_id, "avatar": avatar_id}) is not None


_MEMBER_RECENT = hot(
    "history: a member's recent calls",
    """
    SELECT * FROM sessions
    WHERE guild_id = :guild AND member_id = :member AND state IN ('SETTLED', 'RELEASED')
      AND runway_id IS NOT NULL
    ORDER BY created_at DESC, id DESC LIMIT :limit
    """,
    reads={"sessions_member_ended": None},
)

# `+guild_id` (valid on both engines) keeps either planner off the server's own index, which
# would walk its whole history; the avatar's is made for this.
_AVATAR_RECENT = hot(
    "look-up: an avatar's recent calls",
    """
    SELECT * FROM sessions
    WHERE avatar_id = :avatar AND +guild_id = :guild AND state IN ('SETTLED', 'RELEASED')
      AND runway_id IS NOT NULL
    ORDER BY created_at DESC, id DESC LIMIT :limit
    """,
    reads={"sessions_avatar_ended": None},
)


@personal_data(
    "calls",
    "sessions.member_id",
    "rollup_member_days.member_id",
    "rollup_member_months.member_id",
)
def _forget_calls(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """A member's calls go; their seconds stay in the server's totals under FORGOTTEN_MEMBER.
    Refused while one is live: it is still being billed and will end into the rollups."""
    ids = {"guild": guild_id, "member": member_id}
    if tx.fetch_one(_LIVE_FOR_MEMBER, ids) is not None:
        raise InUseError("a live call", until="End it with `/session end` first")
    forget_member(tx, guild_id, member_id)
    return tx.execute(
        "DELETE FROM sessions WHERE guild_id = :guild AND member_id = :member"
        " AND state IN ('SETTLED', 'RELEASED')",
        ids,
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
        end_hint=None if row["end_hint"] is None else EndReason(row["end_hint"]),
    )
