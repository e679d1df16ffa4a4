"""Small types every repository shares: the clock, JSON values and the "not given" marker."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from typing import Final, Literal, TypeAlias

Clock: TypeAlias = Callable[[], int]
"""Returns the current time as unix seconds; injected so tests can control time."""

SqlValue: TypeAlias = int | float | str | bytes | None
"""What SQLite stores and binds (bools are ints)."""

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None

FORGOTTEN_MEMBER: Final = 0
"""The member id that records of members who asked to be forgotten are filed under: their
usage stays in a server's totals, their identity does not (see `bot.storage.privacy`)."""


MAX_ROW_ID: Final = 2**63 - 1
"""SQLite's largest INTEGER: no row id, and no Discord snowflake, is larger."""


def row_id(value: str | int) -> int | None:
    """A row id from a member's text (an autocomplete value, a typed number) or a custom id:
    ASCII digits only, 1 to 2^63-1. Anything else (twenty digits, -5, 0, "²") is None, which
    no row has, so every caller answers "not found" instead of failing in SQLite."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ROW_ID)):
            return None
        value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


def unix_now() -> int:
    """The wall clock in whole unix seconds, the unit every stored time uses."""
    return int(time.time())


class Unset(Enum):
    """Type of `UNSET`: lets an update tell "leave as is" apart from "set to NULL"."""

    UNSET = "UNSET"


UNSET: Final[Literal[Unset.UNSET]] = Unset.UNSET


def update_params(**changes: SqlValue | Unset) -> dict[str, SqlValue]:
    """Bind parameters for statements written as
    `column = CASE WHEN :set_column THEN :column ELSE column END`.

    One static statement can so update any subset of columns: no SQL built from strings.
    The flags are booleans (PostgreSQL's CASE wants one); a boolean value is stored as 0 or 1,
    as the schema's flag columns are integers on both engines.
    """
    params: dict[str, SqlValue] = {}
    for column, value in changes.items():
        params[f"set_{column}"] = not isinstance(value, Unset)
        if isinstance(value, Unset):
            params[column] = None
        else:
            params[column] = int(value) if isinstance(value, bool) else value
    return params
