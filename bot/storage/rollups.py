"""The usage rollups as a whole: what changes them besides a session ending, and their check.

Each rollup is a table kept equal to a view over the ended sessions (`<table>_from_sessions`,
migration 0003) by a trigger in the transaction that ends a session. Three things change them
otherwise, each in the transaction that causes it:

- A server changes its timezone: its retained sessions' figures move from their old local days
  and months to their new ones (`move_to_timezone`, called before and after the change).
  Figures of sessions that retention already deleted keep their old keys: each still falls in
  exactly one new local day, the one in which its old midnight lies, and every total stays.
- Retention deletes old sessions: nothing to do, their figures stay (which is the point).
- A member is forgotten: their rows are filed under member 0 (`forget_member`); the server's
  totals and rankings keep the seconds, without the identity.

`differences` recomputes every rollup from the sessions and lists what does not match: the
stress test's check, and what a database without retention must always satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.storage.common import FORGOTTEN_MEMBER
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

    @property
    def source(self) -> str:
        return f"{self.table}_from_sessions"

    @property
    def per_member(self) -> bool:
        return "member_id" in self.keys

    def _columns(self) -> str:
        return ", ".join(self.keys + self.counts + self.values)

    def _upsert(self) -> str:
        sums = ", ".join(f"{c} = {c} + excluded.{c}" for c in self.counts + self.values)
        return f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {sums}"

    def move_sql(self) -> str:
        """Add (:sign 1) or take away (:sign -1) a guild's retained sessions, as keyed now."""
        signed = ", ".join(f":sign * {c}" for c in self.counts + self.values)
        return (
            f"INSERT INTO {self.table} ({self._columns()}) "  # noqa: S608
            f"SELECT {', '.join(self.keys)}, {signed} FROM {self.source} "
            f"WHERE guild_id = :guild {self._upsert()}"
        )

    def prune_sql(self) -> str:
        """Drop a guild's rows that hold nothing any more."""
        empty = " AND ".join(f"{c} = 0" for c in self.counts)
        return f"DELETE FROM {self.table} WHERE guild_id = :guild AND {empty}"  # noqa: S608

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
        """Rows of the table and of its view that the other lacks (empty when equal)."""
        columns = self._columns()
        return (
            f"SELECT 'table', * FROM (SELECT {columns} FROM {self.table} "  # noqa: S608
            f"EXCEPT SELECT {columns} FROM {self.source}) "
            f"UNION ALL SELECT 'sessions', * FROM (SELECT {columns} FROM {self.source} "
            f"EXCEPT SELECT {columns} FROM {self.table})"
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
)


def move_to_timezone(tx: WriteTx, guild_id: int, *, sign: int) -> None:
    """Take a guild's retained sessions out of its local-day rollups (`sign=-1`, before its
    timezone changes) or put them back in (`sign=1`, after). Costs one pass over the guild's
    retained ended sessions per rollup; a timezone change is rare and worth that."""
    for rollup in ROLLUPS:
        if rollup.local:
            tx.execute(rollup.move_sql(), {"guild": guild_id, "sign": sign})
            if sign < 0:
                tx.execute(rollup.prune_sql(), {"guild": guild_id})


def forget_member(tx: WriteTx, guild_id: int, member_id: int) -> None:
    """File a member's rollup rows under FORGOTTEN_MEMBER, keeping every figure."""
    params = {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER}
    for rollup in ROLLUPS:
        if rollup.per_member and member_id != FORGOTTEN_MEMBER:
            tx.execute(rollup.forget_sql(), params)
            tx.execute(rollup.drop_member_sql(), params)


def differences(tx: ReadTx) -> dict[str, list[Row]]:
    """Every rollup recomputed from the sessions, against the table: the rows that differ."""
    found = {rollup.table: tx.fetch_all(rollup.mismatch_sql()) for rollup in ROLLUPS}
    return {table: rows for table, rows in found.items() if rows}
