"""Intents for billable Runway calls, and the processes that own them.

An intent is written before the bot asks Runway to create something it pays for, in the same
transaction as the bot's own record of it where there is one (an avatar's name, a session's
reservation), so no crash can leave a call nobody knows about. Each transition is a
conditional UPDATE from the open states, so two resolvers (a retry, a restarted process)
can never resolve one intent twice.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.storage.common import FORGOTTEN_MEMBER, Clock, JsonValue, unix_now
from bot.storage.database import Database
from bot.storage.errors import ConstraintError, InUseError
from bot.storage.hot import hot
from bot.storage.privacy import personal_data
from bot.storage.transaction import Params, Row, WriteTx


class IntentState(StrEnum):
    PENDING = "PENDING"
    UNSURE = "UNSURE"
    ADOPTED = "ADOPTED"
    REMOVED = "REMOVED"
    FAILED = "FAILED"
    UNRESOLVED = "UNRESOLVED"

    @property
    def open(self) -> bool:
        return self in (IntentState.PENDING, IntentState.UNSURE)


@dataclass(frozen=True, slots=True)
class NewIntent:
    kind: str
    guild_id: int
    member_id: int
    name: str
    fingerprint: bytes
    decide_after: int
    target: str | None = None
    record_id: int | None = None
    detail: dict[str, JsonValue] | None = None


@dataclass(frozen=True, slots=True)
class Intent:
    id: int
    kind: str
    guild_id: int
    member_id: int
    owner: int
    state: IntentState
    name: str
    fingerprint: bytes
    target: str | None
    record_id: int | None
    detail: dict[str, Any]
    runway_id: str | None
    created_at: int
    decide_after: int
    attempts: int
    resolved_at: int | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class IntentCounts:
    open: int
    adopted: int
    removed: int
    failed: int
    unresolved: int


def insert_intent(tx: WriteTx, new: NewIntent, owner: int, now: int) -> int:
    """Record an intent inside another repository's transaction; returns its id."""
    row = tx.fetch_one(
        _INSERT,
        {
            "kind": new.kind, "guild": new.guild_id, "member": new.member_id, "owner": owner,
            "name": new.name, "fingerprint": new.fingerprint, "target": new.target,
            "record_id": new.record_id, "detail": json.dumps(new.detail or {}), "now": now,
            "decide_after": max(now, new.decide_after),
        },
    )  # fmt: skip
    assert row is not None, "INSERT ... RETURNING returns the row"
    return int(row[0])


class ProcessRepository:
    """Who is running: one row per process, kept fresh by its heartbeat."""

    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def register(self, *, role: str = "all", place: str | None = None) -> int:
        """A row for this process; `role` is "all" or "web" (BOT_ROLE), `place` where its pid means
        something (see `bot.services.processes.process_place`)."""
        now = self._clock()
        row = await self._db.write(
            lambda tx: tx.fetch_one(
                "INSERT INTO processes (host, pid, started_at, heartbeat_at, role, place)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (socket.gethostname()[:255], os.getpid(), now, now, role, place),
            )
        )
        assert row is not None
        return int(row[0])

    async def heartbeat(self, process_id: int) -> None:
        now = self._clock()
        await self._db.write(
            lambda tx: tx.execute(
                "UPDATE processes SET heartbeat_at = ? WHERE id = ?", (now, process_id)
            )
        )

    async def stopped(self, process_id: int) -> None:
        now = self._clock()
        await self._db.write(
            lambda tx: tx.execute(
                "UPDATE processes SET stopped_at = ?, heartbeat_at = ? WHERE id = ?",
                (now, now, process_id),
            )
        )

    async def dead(self, me: int, *, stale_before: int, others_dead: bool) -> list[int]:
        """Processes that can no longer act: stopped, silent since `stale_before`, or (with
        `others_dead`, as on SQLite where one process runs at a time) every other one."""
        rows = await self._db.fetch_all(
            "SELECT id FROM processes WHERE id <> :me AND (:others OR stopped_at IS NOT NULL"
            " OR heartbeat_at < :stale)",
            {"me": me, "others": others_dead, "stale": stale_before},
        )
        return [int(row[0]) for row in rows]

    async def live_in_place(
        self, me: int, place: str, *, stale_before: int
    ) -> list[tuple[int, int]]:
        """(id, pid) of the other processes in `place` that still count as live."""
        rows = await self._db.fetch_all(
            "SELECT id, pid FROM processes WHERE id <> :me AND place = :place"
            " AND stopped_at IS NULL AND heartbeat_at >= :stale ORDER BY id",
            {"me": me, "place": place, "stale": stale_before},
        )
        return [(int(row[0]), int(row[1])) for row in rows]

    async def gone(self, process_ids: list[int]) -> None:
        """Record that these processes are known to have exited (their pid is gone), so every
        other process treats them as dead at once too."""
        now = self._clock()

        def body(tx: WriteTx) -> None:
            for process_id in process_ids:
                tx.execute(
                    "UPDATE processes SET stopped_at = ? WHERE id = ? AND stopped_at IS NULL",
                    (now, process_id),
                )

        await self._db.write(body)


class IntentRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def add(self, new: NewIntent, owner: int) -> Intent:
        now = self._clock()
        intent_id = await self._db.write(lambda tx: insert_intent(tx, new, owner, now))
        found = await self.get(intent_id)
        assert found is not None
        return found

    async def get(self, intent_id: int) -> Intent | None:
        row = await self._db.fetch_one("SELECT * FROM runway_intents WHERE id = ?", (intent_id,))
        return None if row is None else _intent(row)

    async def for_record(self, kind: str, record_id: int) -> int:
        """The id of the intent written with the bot's record `record_id` of `kind`."""
        row = await self._db.fetch_one(_FOR_RECORD, {"kind": kind, "record_id": record_id})
        if row is None:
            raise LookupError(f"no {kind} intent for record {record_id}")
        return int(row[0])

    async def open_intents(self, *, limit: int = 200) -> list[Intent]:
        """Every unresolved intent, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM runway_intents WHERE state IN ('PENDING', 'UNSURE')"
            " ORDER BY created_at, id LIMIT ?",
            (limit,),
        )
        return [_intent(row) for row in rows]

    async def for_guild(self, guild_id: int, *, limit: int = 10) -> list[Intent]:
        rows = await self._db.fetch_all(
            "SELECT * FROM runway_intents WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, limit),
        )
        return [_intent(row) for row in rows]

    async def counts(self, *, since: int, guild_id: int | None = None) -> IntentCounts:
        row = await self._db.fetch_one(
            "SELECT count(*) FILTER (WHERE state IN ('PENDING', 'UNSURE')),"
            " count(*) FILTER (WHERE state = 'ADOPTED' AND attempts > 0),"
            " count(*) FILTER (WHERE state = 'REMOVED'),"
            " count(*) FILTER (WHERE state = 'FAILED' AND attempts > 0),"
            " count(*) FILTER (WHERE state = 'UNRESOLVED')"
            " FROM runway_intents WHERE (created_at >= :since OR state IN ('PENDING', 'UNSURE'))"
            " AND guild_id = coalesce(:guild, guild_id)",
            {"since": since, "guild": guild_id},
        )
        assert row is not None, "an aggregate always returns a row"
        return IntentCounts(*(int(value) for value in row))

    async def claim(self, intent_id: int, runway_id: str) -> bool:
        """Name the object found for an open intent (before the caller records it), so no
        other intent can take it; False if another intent already did."""
        try:
            return await self._write_changed(
                "UPDATE runway_intents SET runway_id = ? WHERE id = ?"
                " AND state IN ('PENDING', 'UNSURE')",
                (runway_id, intent_id),
            )
        except ConstraintError:
            return False

    async def recorded(self, runway_ids: list[str], *, besides: int) -> set[str]:
        """Which of these Runway ids the bot already knows: in its avatars, documents or
        sessions, or claimed by an intent other than `besides`."""
        if not runway_ids:
            return set()
        marks = ",".join("?" * len(runway_ids))
        ids = tuple(runway_ids)
        rows = await self._db.fetch_all(
            f"SELECT runway_id FROM avatars WHERE runway_id IN ({marks})"  # noqa: S608 - only placeholders
            f" UNION SELECT runway_id FROM documents WHERE runway_id IN ({marks})"
            f" UNION SELECT runway_id FROM sessions WHERE runway_id IN ({marks})"
            f" UNION SELECT runway_id FROM runway_intents WHERE runway_id IN ({marks})"
            " AND id <> ?",
            (*ids, *ids, *ids, *ids, besides),
        )
        return {str(row[0]) for row in rows}

    async def mark_unsure(self, intent_id: int, *, decide_after: int) -> bool:
        """The answer was lost: a listing must settle it (not before `decide_after`)."""
        return await self._write_changed(
            "UPDATE runway_intents SET state = 'UNSURE', decide_after = ?"
            " WHERE id = ? AND state IN ('PENDING', 'UNSURE')",
            (decide_after, intent_id),
        )

    async def counted_attempt(self, intent_id: int) -> None:
        await self._write_changed(
            "UPDATE runway_intents SET attempts = attempts + 1 WHERE id = ?", (intent_id,)
        )

    async def resolve(
        self,
        intent_id: int,
        state: IntentState,
        outcome: str,
        *,
        runway_id: str | None = None,
    ) -> bool:
        """Close an open intent; False if someone else already did."""
        assert not state.open
        return await self._write_changed(
            _RESOLVE,
            {
                "state": state,
                "outcome": outcome,
                "now": self._clock(),
                "runway_id": runway_id,
                "intent_id": intent_id,
            },
        )

    async def _write_changed(self, sql: str, params: Params) -> bool:
        return await self._db.write(lambda tx: tx.execute(sql, params) > 0)


def _intent(row: Row) -> Intent:
    return Intent(
        id=row["id"],
        kind=row["kind"],
        guild_id=row["guild_id"],
        member_id=row["member_id"],
        owner=row["owner"],
        state=IntentState(row["state"]),
        name=row["name"],
        fingerprint=row["fingerprint"],
        target=row["target"],
        record_id=row["record_id"],
        detail=json.loads(row["detail"]),
        runway_id=row["runway_id"],
        created_at=row["created_at"],
        decide_after=row["decide_after"],
        attempts=row["attempts"],
        resolved_at=row["resolved_at"],
        outcome=row["outcome"],
    )


_INSERT = hot(
    "billable create: record the intent before Runway is called",
    """
    INSERT INTO runway_intents (kind, guild_id, member_id, owner, name, fingerprint, target,
                                record_id, detail, created_at, decide_after)
    VALUES (:kind, :guild, :member, :owner, :name, :fingerprint, :target, :record_id, :detail,
            :now, :decide_after)
    RETURNING id
    """,
    reads={},
)

_FOR_RECORD = hot(
    "billable create: the intent written with a record",
    """
    SELECT id FROM runway_intents WHERE kind = :kind AND record_id = :record_id
    ORDER BY id DESC LIMIT 1
    """,
    reads={"runway_intents_record": None},
)

_RESOLVE = hot(
    "billable create: close an open intent",
    """
    UPDATE runway_intents SET state = :state, outcome = :outcome, resolved_at = :now,
        runway_id = coalesce(:runway_id, runway_id)
    WHERE id = :intent_id AND state IN ('PENDING', 'UNSURE')
    """,
    # by id, or among the open intents only (a partial index): both are bounded
    reads={"runway_intents.pk": None, "runway_intents_open": None},
)


@personal_data("Runway requests", "runway_intents.member_id")
def _forget_requester(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """Who asked for what the bot made at Runway is forgotten; a request still in flight
    must be resolved first (its outcome is told to the member)."""
    ids = {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER}
    if tx.fetch_one(
        "SELECT 1 FROM runway_intents WHERE guild_id = :guild AND member_id = :member"
        " AND state IN ('PENDING', 'UNSURE')",
        ids,
    ):
        raise InUseError(
            "a request to Runway still in progress",
            until="Wait until the bot has told you how it ended (a minute or two)",
        )
    return tx.execute(
        "UPDATE runway_intents SET member_id = :forgotten"
        " WHERE guild_id = :guild AND member_id = :member",
        ids,
    )
