"""The usage rollups as a whole: what changes them besides a session ending, and their check.

Each rollup is a table kept equal to the sum, by its keys, of a view of what each ended
session (or avatar video, migration 0006) contributes (`<table>_rows`, migration 0003), by a
trigger in the transaction that ends it. Three things change them otherwise, each in the
transaction that causes it:

- A server changes its timezone: its calls of the current and the previous local month (in the
  new timezone) move from their old local days and months to their new ones
  (`move_to_timezone`, called before and after the change), so the budgets of today and this
  month, and the reports of the recent weeks, count the new days at once. Older days stay as
  they were counted: each still falls in exactly one new local day (the one in which its old
  midnight lies) and every total stays. Moving the whole history instead would hold the write
  connection for seconds in a busy server (about 10 s for 130,000 calls); two months is what
  budgets need. Days whose sessions retention deleted are older still, and stay too.
- Retention deletes old sessions: nothing to do, their figures stay (which is the point).
- A member is forgotten: their rows are filed under member 0 (`forget_member`); the server's
  totals and rankings keep the seconds, without the identity.

`differences` recomputes every rollup from the sessions and lists what does not match: the
tests' check, and what a database without retention or erasure must always satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.storage.common import FORGOTTEN_MEMBER
from bot.storage.hot import hot
from bot.storage.transaction import ReadTx, Row, WriteTx


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup table, and the statements that maintain it. They are composed from the
    names in `ROLLUPS` below, never from input (hence the S608 exemptions)."""

    table: str
    keys: tuple[str, ...]
    counts: tuple[str, ...]  # a row exists while one of these is positive
    values: tuple[str, ...]
    local: bool  # keyed by the server's local days or months
    ended_index: tuple[str, str] = ("sessions_ended", "created_at>")
    """The index of ended rows a timezone move reads through, and the range it searches."""

    @property
    def rows(self) -> str:
        """The view of what each ended session contributes."""
        return f"{self.table}_rows"

    @property
    def per_member(self) -> bool:
        return "member_id" in self.keys

    def _columns(self) -> str:
        return ", ".join(self.keys + self.counts + self.values)

    def _upsert(self) -> str:
        sums = ", ".join(
            f"{c} = {self.table}.{c} + excluded.{c}" for c in self.counts + self.values
        )
        return f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {sums}"

    def summed(self) -> str:
        """The rollup as the sessions define it: its rows view summed by its keys."""
        keys = ", ".join(self.keys)
        sums = ", ".join(f"sum({c}) AS {c}" for c in self.counts + self.values)
        return f"SELECT {keys}, {sums} FROM {self.rows} GROUP BY {keys}"  # noqa: S608

    def move_sql(self) -> str:
        """Add (:sign 1) or take away (:sign -1) a guild's sessions started since :since, as
        their keys are now."""
        keys = ", ".join(self.keys)
        signed = ", ".join(f":sign * sum({c})" for c in self.counts + self.values)
        return (
            f"INSERT INTO {self.table} ({self._columns()}) "  # noqa: S608
            f"SELECT {keys}, {signed} FROM {self.rows} "
            f"WHERE guild_id = :guild AND created_at >= :since GROUP BY {keys} {self._upsert()}"
        )

    def prune_sql(self) -> str:
        """Drop a guild's rows that hold nothing any more, among those a move touched: every
        key of a session started since :since lies after the local day or month before it."""
        empty = " AND ".join(f"{c} = 0" for c in self.counts)
        start = "month_start" if "month_start" in self.keys else "day_start"
        return (
            f"DELETE FROM {self.table} WHERE guild_id = :guild "  # noqa: S608
            f"AND {start} >= :since - {_MONTH_MARGIN} AND {empty}"
        )

    def forget_sql(self) -> str:
        """File a member's rows under FORGOTTEN_MEMBER."""
        picked = ", ".join(":forgotten" if key == "member_id" else key for key in self.keys)
        values = ", ".join(self.counts + self.values)
        return (
            f"INSERT INTO {self.table} ({self._columns()}) "  # noqa: S608
            f"SELECT {picked}, {values} FROM {self.table} "
            f"WHERE guild_id = :guild AND member_id = :member {self._upsert()}"
        )

    def drop_member_sql(self) -> str:
        return f"DELETE FROM {self.table} WHERE guild_id = :guild AND member_id = :member"  # noqa: S608

    def mismatch_sql(self) -> str:
        """Rows of the table and of the sessions' sum that the other lacks (none when equal)."""
        columns = self._columns()
        return (
            f"SELECT 'table', * FROM (SELECT {columns} FROM {self.table} "  # noqa: S608
            f"EXCEPT SELECT * FROM ({self.summed()}) AS summed) AS extra "
            f"UNION ALL SELECT 'sessions', * FROM (SELECT * FROM ({self.summed()}) AS summed "
            f"EXCEPT SELECT {columns} FROM {self.table}) AS missing"
        )


ROLLUPS: Final = (
    Rollup("rollup_guild_days", ("guild_id", "day_start"), ("settled",), ("seconds",), True),
    Rollup(
        "rollup_avatar_days",
        ("guild_id", "day_start", "avatar_label"),
        ("settled",),
        ("seconds",),
        True,
    ),
    Rollup(
        "rollup_end_days",
        ("guild_id", "day_start", "end_reason"),
        ("sessions",),
        ("seconds",),
        True,
    ),
    Rollup(
        "rollup_member_days",
        ("guild_id", "member_id", "day_start", "avatar_label", "end_reason"),
        ("settled", "released"),
        ("seconds",),
        True,
    ),
    Rollup(
        "rollup_member_months",
        ("guild_id", "month_start", "member_id"),
        ("settled",),
        ("seconds",),
        True,
    ),
    Rollup("rollup_account_hours", ("dialect", "hour_start"), ("joined",), ("seconds",), False),
    # Avatar videos (migration 0006): ended videos, by the moment each is charged to.
    Rollup(
        "rollup_video_days",
        ("guild_id", "day_start"),
        ("videos",),
        ("seconds",),
        True,
        ("videos_ended", "counted_at>"),
    ),
    Rollup(
        "rollup_video_member_days",
        ("guild_id", "member_id", "day_start"),
        ("videos", "released"),
        ("seconds",),
        True,
        ("videos_ended", "counted_at>"),
    ),
)


def move_to_timezone(tx: WriteTx, guild_id: int, *, sign: int, since: int) -> None:
    """Take a guild's sessions started since `since` out of its local-day rollups (`sign=-1`,
    before its timezone changes) or put them back in (`sign=1`, after): see the module note.
    Costs one pass over those sessions per rollup."""
    for rollup, sql in _MOVES:
        tx.execute(sql, {"guild": guild_id, "sign": sign, "since": since})
        if sign < 0:
            tx.execute(rollup.prune_sql(), {"guild": guild_id, "since": since})


def forget_member(tx: WriteTx, guild_id: int, member_id: int) -> None:
    """File a member's rollup rows under FORGOTTEN_MEMBER, keeping every figure."""
    params = {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER}
    for rollup in ROLLUPS:
        if rollup.per_member and member_id != FORGOTTEN_MEMBER:
            tx.execute(rollup.forget_sql(), params)
            tx.execute(rollup.drop_member_sql(), params)


_MONTH_MARGIN: Final = 32 * 86_400
"""Wider than any local month's start can lie before a moment of it, in any timezone."""

_MOVES: Final = tuple(
    (
        rollup,
        hot(
            f"timezone change: move the recent days of {rollup.table}",
            rollup.move_sql(),
            reads=dict([rollup.ended_index, ("guild_settings.pk", None)]),
        ),
    )
    for rollup in ROLLUPS
    if rollup.local
)


def differences(tx: ReadTx) -> dict[str, list[Row]]:
    """Every rollup recomputed from the sessions, against the table: the rows that differ."""
    found = {rollup.table: tx.fetch_all(rollup.mismatch_sql()) for rollup in ROLLUPS}
    return {table: rows for table, rows in found.items() if rows}
