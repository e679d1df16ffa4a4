"""What a copy must carry over unchanged, measured the same way on both engines.

Rows per table, and each server's figures an admin would notice first: its calls, the seconds
they used, its documents and avatars, and the seconds its usage rollup holds (what quotas and
reports read). The queries are plain SQL both engines run as written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.storage.copy.tables import Table
from bot.storage.errors import StorageError

Query = Callable[[str], Iterable[Sequence[Any]]]
"""Runs one statement on one engine and yields its rows."""

SERVER_FIGURES: dict[str, str] = {
    "calls": "SELECT guild_id, count(*) FROM sessions GROUP BY guild_id",
    "seconds used": (
        "SELECT guild_id, coalesce(sum(used_seconds), 0) FROM sessions GROUP BY guild_id"
    ),
    "documents": "SELECT guild_id, count(*) FROM documents GROUP BY guild_id",
    "avatars": "SELECT guild_id, count(*) FROM avatars GROUP BY guild_id",
    "rolled-up seconds": "SELECT guild_id, sum(seconds) FROM rollup_guild_days GROUP BY guild_id",
}
SHOWN = 5
"""Differences listed in a message; the rest are counted."""


class MismatchError(StorageError):
    """The target does not hold what the source held; the copy was rolled back."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "; ".join(problems[:SHOWN])
        more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
        super().__init__(f"the copy does not match its source: {listed}{more}")


@dataclass(frozen=True, slots=True)
class Figures:
    rows: dict[str, int]
    servers: dict[str, dict[int, int]]  # figure -> guild -> value

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def measure(query: Query, tables: list[Table]) -> Figures:
    rows = {
        table.name: _single(query(f"SELECT count(*) FROM {table.quoted}"))  # noqa: S608 - schema names
        for table in tables
    }
    servers = {
        figure: {int(guild): int(value) for guild, value in query(sql)}
        for figure, sql in SERVER_FIGURES.items()
    }
    return Figures(rows, servers)


def compare(source: Figures, target: Figures) -> list[str]:
    """Every way `target` differs from `source`, in words."""
    problems = [
        f"{table}: {count:,} rows in the source, {target.rows.get(table, 0):,} in the target"
        for table, count in source.rows.items()
        if target.rows.get(table, 0) != count
    ]
    for figure, wanted in source.servers.items():
        found = target.servers.get(figure, {})
        for guild in sorted(wanted.keys() | found.keys()):
            if wanted.get(guild, 0) != found.get(guild, 0):
                problems.append(
                    f"server {guild}'s {figure}: {wanted.get(guild, 0):,} in the source,"
                    f" {found.get(guild, 0):,} in the target"
                )
    return problems


def _single(rows: Iterable[Sequence[Any]]) -> int:
    for row in rows:
        return int(row[0])
    raise AssertionError("count(*) returns one row")
