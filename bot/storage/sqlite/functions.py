"""The calendar functions SQLite's SQL calls, registered on every connection the bot opens."""

from __future__ import annotations

import sqlite3

from bot.storage.local_days import PeriodCache, day_period, month_period


def register_functions(conn: sqlite3.Connection) -> None:
    """Give an SQLite connection the two calendar functions the rollup SQL calls."""
    conn.create_function("local_day_start", 2, PeriodCache(day_period), deterministic=True)
    conn.create_function("local_month_start", 2, PeriodCache(month_period), deterministic=True)
