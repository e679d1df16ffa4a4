"""Runway's side against the bot's records, after a fault and its recovery."""

from __future__ import annotations

from dataclasses import dataclass

from bot.runway.sandbox import Sandbox
from bot.storage import Database

LIVE_AT_RUNWAY = {"NOT_READY", "READY", "RUNNING"}


@dataclass(frozen=True)
class Books:
    avatars: set[str]
    documents: set[str]
    sessions: dict[str, str]  # runway id -> the bot's state
    placeholders: int  # avatars the bot holds a name for, with no Runway id
    reserved: int
    open_intents: int
    intents: dict[str, str]  # kind -> state of the latest intent of that kind


async def read_books(database: Database) -> Books:
    async def ids(sql: str) -> list[str]:
        return [str(row[0]) for row in await database.fetch_all(sql)]

    sessions = {
        str(row[0]): str(row[1])
        for row in await database.fetch_all(
            "SELECT runway_id, state FROM sessions WHERE runway_id IS NOT NULL"
        )
    }
    runway_sessions = await ids("SELECT runway_id FROM sessions WHERE runway_id IS NOT NULL")
    assert len(runway_sessions) == len(set(runway_sessions)), "a Runway session counted twice"

    async def count(sql: str) -> int:
        row = await database.fetch_one(sql)
        assert row is not None
        return int(row[0])

    intents = {
        str(row[0]): str(row[1])
        for row in await database.fetch_all("SELECT kind, state FROM runway_intents ORDER BY id")
    }
    return Books(
        avatars=set(await ids("SELECT runway_id FROM avatars WHERE runway_id IS NOT NULL")),
        documents=set(await ids("SELECT runway_id FROM documents")),
        sessions=sessions,
        placeholders=await count("SELECT count(*) FROM avatars WHERE runway_id IS NULL"),
        reserved=await count("SELECT count(*) FROM sessions WHERE state = 'RESERVED'"),
        open_intents=await count(
            "SELECT count(*) FROM runway_intents WHERE state IN ('PENDING', 'UNSURE')"
        ),
        intents=intents,
    )


async def assert_books_match(database: Database, sandbox: Sandbox) -> Books:
    """Runway holds exactly what the bot recorded: no stray object, nothing stuck, every
    session once, live at Runway only while the bot has it open."""
    books = await read_books(database)
    runway = sandbox.inventory()
    assert books.open_intents == 0, "an intent was left unresolved"
    assert books.placeholders == 0, "a name is still held for an avatar Runway never made"
    assert books.reserved == 0, "a reservation was left behind"
    assert set(runway["avatars"]) == books.avatars, "avatars at Runway and in the bot differ"
    assert set(runway["documents"]) == books.documents, "documents differ"
    assert set(runway["sessions"]) == set(books.sessions), "sessions differ"
    for runway_id, status in runway["sessions"].items():
        assert (status in LIVE_AT_RUNWAY) == (books.sessions[runway_id] == "OPEN"), (
            runway_id,
            status,
            books.sessions[runway_id],
        )
    return books
