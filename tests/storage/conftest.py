"""Fixtures: a real database per test, on each engine, and a clock the test moves by hand.

`db` runs a test on both engines (see tests/conftest.py); `db_path` is an SQLite file, for
the tests about SQLite's file itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Database

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


class FakeClock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.db"


@pytest.fixture
async def db(database_target: str | Path) -> AsyncIterator[Database]:
    async with Database.open(database_target) as database:
        yield database
