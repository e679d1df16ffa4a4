"""The one row type both engines hand back: a tuple whose columns can also be read by name.

`row[0]`, `row["guild_id"]`, `tuple(row)` and unpacking all work alike on SQLite and
PostgreSQL, so a repository never knows which engine produced a row. Each distinct list of
column names gets its own small subclass (cached), holding the name-to-position map once
instead of in every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar, SupportsIndex, overload


class Row(tuple[Any, ...]):
    """A result row: a tuple, plus `row["column"]` and `keys()`."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}
    _names: ClassVar[tuple[str, ...]] = ()

    @overload
    def __getitem__(self, key: SupportsIndex | str) -> Any: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, key: SupportsIndex | str | slice) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                raise IndexError(f"no column named {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self._names


@lru_cache(maxsize=1024)
def row_type(names: tuple[str, ...]) -> type[Row]:
    """The row class for results with these column names (the first of a repeated name wins,
    as with sqlite3.Row)."""
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)
    return type("Row", (Row,), {"__slots__": (), "_index": index, "_names": names})


def make_row(names: tuple[str, ...], values: Sequence[Any]) -> Row:
    return row_type(names)(values)
