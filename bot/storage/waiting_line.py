"""The waiting line for a call slot of the Runway account, kept in the database.

Members wait here when every slot is taken. Giving a freed slot is one write transaction
(`give`): it checks that a slot is free, picks the next member in fair order, checks every
limit of their server against them at that moment, reserves their call and marks their place
as being served, all or nothing. Nothing about the line lives in a process's memory, so it
survives a restart, and several processes sharing one database (PostgreSQL) share the line:
that transaction holds the admission lock (`LockKey.ADMISSION`), as every start's does, so
slots are given and taken one at a time across every process.

Fair order: servers take turns (round robin: the server given a slot longest ago, or never,
comes first; ties go to the server whose member came first), and within a server the member
who came first goes first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial

from bot.settings import Dialect
from bot.storage.admission import FittingPolicy
from bot.storage.common import Clock, SqlValue, unix_now
from bot.storage.database import Database
from bot.storage.errors import LimitReached
from bot.storage.hot import hot
from bot.storage.intents import NewIntent
from bot.storage.locks import LockKey
from bot.storage.privacy import personal_data
from bot.storage.quotas import StoredQuotas, stored_quotas
from bot.storage.sessions import NewSession, Session, admit_in
from bot.storage.transaction import Row, WriteTx


class LineState(StrEnum):
    WAITING = "WAITING"
    OFFERING = "OFFERING"
    """A slot was given: the member's call is being set up and its link sent."""


@dataclass(frozen=True, slots=True)
class NewLineEntry:
    guild_id: int
    member_id: int
    role_ids: frozenset[int]
    avatar_label: str
    wanted_seconds: int
    runway_target: str
    """What the call shows at Runway (an avatar's Runway id, or a preset), for its intent."""
    avatar_id: int | None = None  # one of avatar_id and preset_id
    preset_id: str | None = None


@dataclass(frozen=True, slots=True)
class LineEntry:
    id: int
    guild_id: int
    member_id: int
    role_ids: frozenset[int]
    avatar_id: int | None
    """None for a preset, or once the avatar was deleted (then `preset_id` is None too)."""
    preset_id: str | None
    avatar_label: str
    wanted_seconds: int
    runway_target: str
    state: LineState
    session_id: int | None
    notice_channel_id: int | None
    notice_message_id: int | None
    joined_at: int


SlotPolicy = FittingPolicy
"""A server's limits bound to one waiting member, applied when a slot is given."""


PolicyFor = Callable[[StoredQuotas, LineEntry], SlotPolicy]
IntentFor = Callable[[LineEntry, int], NewIntent]


@dataclass(frozen=True, slots=True)
class Refused:
    """A member whose turn came but whose call the server's limits refuse now, or whose
    avatar was deleted meanwhile (`limit` None): taken out of the line."""

    entry: LineEntry
    limit: LimitReached | None


@dataclass(frozen=True, slots=True)
class GiveOutcome:
    given: LineEntry | None
    """The member given a slot (OFFERING), with the call reserved for them (`session`)."""
    session: Session | None
    refused: tuple[Refused, ...]
    full: bool
    """Every slot of the account was taken: nobody could be given one."""


class WaitingLineRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def join(self, new: NewLineEntry) -> LineEntry:
        """Take a place, or keep the one already held (its call's details updated while it
        waits): the place is the order of first arrival."""
        params: dict[str, SqlValue] = {
            "guild": new.guild_id,
            "member": new.member_id,
            "roles": json.dumps(sorted(new.role_ids)),
            "avatar": new.avatar_id,
            "preset": new.preset_id,
            "label": new.avatar_label,
            "wanted": new.wanted_seconds,
            "target": new.runway_target,
            "now": self._clock(),
        }

        def body(tx: WriteTx) -> LineEntry:
            tx.execute(_JOIN, params)
            row = tx.fetch_one(_ENTRY, params)
            assert row is not None, "the place was just taken or kept"
            return _entry(row)

        return await self._db.write(body)

    async def entry(self, guild_id: int, member_id: int) -> LineEntry | None:
        row = await self._db.fetch_one(_ENTRY, {"guild": guild_id, "member": member_id})
        return None if row is None else _entry(row)

    async def waiting(self) -> list[LineEntry]:
        """Everyone waiting, in the order they will be given slots."""
        return _fair(await self._db.fetch_all(_WAITING))

    async def offering(self) -> list[LineEntry]:
        """Places being served: a slot was given and its call is being set up."""
        return [_entry(row) for row in await self._db.fetch_all(_OFFERING)]

    async def leave(self, guild_id: int, member_id: int) -> LineEntry | None:
        """Give up a place; the entry that was left, if there was one."""
        params = {"guild": guild_id, "member": member_id}
        row = await self._db.write(lambda tx: tx.fetch_one(_LEAVE, params))
        return None if row is None else _entry(row)

    async def clear(self, guild_id: int) -> list[LineEntry]:
        """Everyone of the server who is still waiting leaves (a member being served keeps
        the slot already given)."""
        rows = await self._db.write(lambda tx: tx.fetch_all(_CLEAR, {"guild": guild_id}))
        return [_entry(row) for row in rows]

    async def served(self, entry_id: int) -> bool:
        """The member has their link: the place is done with."""
        params = {"id": entry_id}
        return await self._db.write(lambda tx: tx.execute(_SERVED, params) > 0)

    async def back_in_line(self, entry_id: int) -> bool:
        """Setting up the given call failed: the member waits again, in the same place."""
        params = {"id": entry_id}
        return await self._db.write(lambda tx: tx.execute(_BACK, params) > 0)

    async def set_notice(self, entry_id: int, channel_id: int, message_id: int) -> None:
        """The DM that tells the member their place from now on (any process may edit it)."""
        params = {"id": entry_id, "channel": channel_id, "message": message_id}
        await self._db.write(lambda tx: tx.execute(_NOTICE, params))

    async def recent_calls(self, dialect: Dialect, since: int) -> tuple[int, int]:
        """Seconds and number of the account's calls that ended since `since` and were
        joined: how long a call lasts, for the line's estimate (O(hours), from the rollup)."""
        row = await self._db.fetch_one(_RECENT, {"dialect": dialect, "since": since})
        assert row is not None, "an aggregate always returns a row"
        return int(row[0]), int(row[1])

    async def give(
        self,
        *,
        slots: int,
        dialect: Dialect,
        policy_for: PolicyFor,
        intent_for: IntentFor,
        owner: int,
    ) -> GiveOutcome:
        """Give a free slot of the account's `slots` to the next member in fair order whose
        server's limits allow their call now, in one transaction: the call is reserved (owned
        by process `owner`, with its intent) and the place marked OFFERING.

        A member refused by a limit that a call ending frees (their server's live calls) keeps
        their place and their server is passed over this time; a member refused by any other
        limit, or whose avatar is gone, leaves the line (`refused`).
        """
        now = self._clock()

        def body(tx: WriteTx) -> GiveOutcome:
            live = tx.fetch_one(_LIVE)
            assert live is not None, "a count always returns a row"
            if live[0] >= slots:
                return GiveOutcome(None, None, (), full=True)
            refused: list[Refused] = []
            passed_over: set[int] = set()
            for entry in _fair(tx.fetch_all(_WAITING)):
                if entry.guild_id in passed_over:
                    continue
                if entry.avatar_id is None and entry.preset_id is None:
                    refused.append(Refused(entry, None))
                    tx.execute(_REMOVE, {"id": entry.id})
                    continue
                policy = policy_for(stored_quotas(tx, entry.guild_id), entry)
                request = NewSession(
                    guild_id=entry.guild_id,
                    member_id=entry.member_id,
                    avatar_label=entry.avatar_label,
                    dialect=dialect,
                    max_seconds=entry.wanted_seconds,
                    avatar_id=entry.avatar_id,
                    preset_id=entry.preset_id,
                )
                try:
                    session = admit_in(
                        tx,
                        request,
                        policy,
                        now,
                        owner=owner,
                        intent_for=partial(intent_for, entry),
                    )
                except LimitReached as limit:
                    if limit.limit == "guild_live":
                        passed_over.add(entry.guild_id)
                    else:
                        refused.append(Refused(entry, limit))
                        tx.execute(_REMOVE, {"id": entry.id})
                    continue
                tx.execute(_OFFER, {"id": entry.id, "session": session.id})
                tx.execute(_TURN, {"guild": entry.guild_id})
                given = replace(entry, state=LineState.OFFERING, session_id=session.id)
                return GiveOutcome(given, session, tuple(refused), full=False)
            return GiveOutcome(None, None, tuple(refused), full=False)

        return await self._db.write(body, lock=LockKey.ADMISSION)


def fair_order(entries: Iterable[LineEntry], turns: Mapping[int, int]) -> list[LineEntry]:
    """Waiting entries in the order slots go to them: servers take turns, the one served
    longest ago (`turns`: a counter, higher is more recent; never served is 0) first, ties to
    the server whose member came first; within a server, first come first served."""
    by_guild: dict[int, list[LineEntry]] = {}
    for entry in sorted(entries, key=lambda item: item.id):
        by_guild.setdefault(entry.guild_id, []).append(entry)
    guilds = sorted(by_guild, key=lambda guild: (turns.get(guild, 0), by_guild[guild][0].id))
    turn_of = {guild: index for index, guild in enumerate(guilds)}
    return sorted(
        (entry for queue in by_guild.values() for entry in queue),
        key=lambda entry: (by_guild[entry.guild_id].index(entry), turn_of[entry.guild_id]),
    )


def _fair(rows: list[Row]) -> list[LineEntry]:
    """`_WAITING`'s rows in fair order."""
    turns = {row["guild_id"]: row["served"] for row in rows}
    return fair_order((_entry(row) for row in rows), turns)


_RECENT = hot(
    "waiting line: how long the account's recent calls lasted",
    """
    SELECT coalesce(sum(seconds), 0), coalesce(sum(joined), 0) FROM rollup_account_hours
    WHERE dialect = :dialect AND hour_start >= :since
    """,
    reads={"rollup_account_hours.pk": "hour_start>"},
)

_LIVE = hot(
    "waiting line: the account's live calls",
    "SELECT count(*) FROM sessions WHERE state IN ('RESERVED', 'OPEN')",
    reads={"sessions_open": None},
)

# Each waiting member's server's turn is one look-up by key (a join would let PostgreSQL's
# planner walk every server's turn).
_WAITING = hot(
    "waiting line: everyone waiting, with their server's turn",
    """
    SELECT waiting_line.*,
           coalesce((SELECT served FROM line_turns
                     WHERE line_turns.guild_id = waiting_line.guild_id), 0) AS served
    FROM waiting_line WHERE state = 'WAITING'
    """,
    reads={"waiting_line_order": None, "line_turns.pk": None},
)

_OFFERING = hot(
    "waiting line: places being served",
    "SELECT * FROM waiting_line WHERE state = 'OFFERING'",
    reads={"waiting_line_order": None},
)

_ENTRY = hot(
    "waiting line: a member's place",
    "SELECT * FROM waiting_line WHERE guild_id = :guild AND member_id = :member",
    reads={"waiting_line_member": None},
)

_JOIN = """
INSERT INTO waiting_line (guild_id, member_id, role_ids, avatar_id, preset_id, avatar_label,
                          wanted_seconds, runway_target, joined_at)
VALUES (:guild, :member, :roles, :avatar, :preset, :label, :wanted, :target, :now)
ON CONFLICT (guild_id, member_id) DO UPDATE SET
    role_ids = excluded.role_ids, avatar_id = excluded.avatar_id,
    preset_id = excluded.preset_id, avatar_label = excluded.avatar_label,
    wanted_seconds = excluded.wanted_seconds, runway_target = excluded.runway_target
WHERE waiting_line.state = 'WAITING'
"""

_LEAVE = hot(
    "waiting line: a member leaves",
    "DELETE FROM waiting_line WHERE guild_id = :guild AND member_id = :member RETURNING *",
    reads={"waiting_line_member": None},
)

_CLEAR = hot(
    "waiting line: a server's admins clear it",
    "DELETE FROM waiting_line WHERE state = 'WAITING' AND guild_id = :guild RETURNING *",
    reads={"waiting_line_order": None},
)

_REMOVE = hot(
    "waiting line: a refused member leaves",
    "DELETE FROM waiting_line WHERE id = :id",
    reads={"waiting_line.pk": None},
)

_OFFER = hot(
    "waiting line: a slot given",
    "UPDATE waiting_line SET state = 'OFFERING', session_id = :session WHERE id = :id",
    reads={"waiting_line.pk": None},
)

_OFFERED_BY_ID = {"waiting_line.pk": None, "waiting_line_order": None}
"""A place being served, by id: its primary key, or the few places being served."""

_SERVED = hot(
    "waiting line: a given slot delivered",
    "DELETE FROM waiting_line WHERE id = :id AND state = 'OFFERING'",
    reads=_OFFERED_BY_ID,
)

_BACK = hot(
    "waiting line: back in place after a failed set-up",
    """
    UPDATE waiting_line SET state = 'WAITING', session_id = NULL
    WHERE id = :id AND state = 'OFFERING'
    """,
    reads=_OFFERED_BY_ID,
)

_NOTICE = hot(
    "waiting line: the DM that shows a place",
    """
    UPDATE waiting_line SET notice_channel_id = :channel, notice_message_id = :message
    WHERE id = :id
    """,
    reads={"waiting_line.pk": None},
)

_TURN = hot(
    "waiting line: a server's turn is used",
    """
    INSERT INTO line_turns (guild_id, served)
    VALUES (:guild, (SELECT coalesce(max(served), 0) + 1 FROM line_turns))
    ON CONFLICT (guild_id) DO UPDATE SET served = excluded.served
    """,
    reads={"line_turns_served": None, "line_turns.pk": None},
)


@personal_data("places in the waiting line", "waiting_line.member_id")
def _forget_place(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """A member's place goes (one being served has a live call, which stops the erasure)."""
    return tx.execute(
        "DELETE FROM waiting_line WHERE guild_id = :guild AND member_id = :member",
        {"guild": guild_id, "member": member_id},
    )


def _entry(row: Row) -> LineEntry:
    return LineEntry(
        id=row["id"],
        guild_id=row["guild_id"],
        member_id=row["member_id"],
        role_ids=frozenset(int(role) for role in json.loads(row["role_ids"])),
        avatar_id=row["avatar_id"],
        preset_id=row["preset_id"],
        avatar_label=row["avatar_label"],
        wanted_seconds=row["wanted_seconds"],
        runway_target=row["runway_target"],
        state=LineState(row["state"]),
        session_id=row["session_id"],
        notice_channel_id=row["notice_channel_id"],
        notice_message_id=row["notice_message_id"],
        joined_at=row["joined_at"],
    )
