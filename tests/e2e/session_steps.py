"""Steps the /session end-to-end tests share.

Starting a call through the fake Discord and reading the join link out of the DM; acting
as the join page's script against the bot's web server (from a loopback address of its
own, so the per-address rate limit of one test never touches another); and reading the
bot's database, read-only, to see what a session really cost.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.runway.sandbox import Sandbox
from tests.e2e.avatar_steps import settled as settled_reply
from tests.e2e.database import everything_stored, rows
from tests.fakediscord import FakeDiscord, InteractionResult, Member, Message

PRESET = "preset:cat-character"
PRESET_LABEL = "Cat Character (Runway preset)"
SESSIONS_ROUTE = "/v1/realtime_sessions"
SESSION_ROUTE = "/v1/realtime_sessions/{id}"
CONSUME_ROUTE = "/v1/realtime_sessions/{id}/consume"
# What the page's script sends with both of its POSTs (the server refuses them without).
PAGE_HEADERS = {"X-Join": "1", "Sec-Fetch-Site": "same-origin"}
JOIN_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
LINK = re.compile(r"\((?P<url>http://[^)\s]+/join/(?P<code>[A-Za-z0-9_-]+))\)")
DB_WAIT_SECONDS = 10.0
# Longer than the test sandbox takes to make a session READY (0.2 s), so the bot finds it
# ready at its first look instead of polling again a second later.
HESITATE_SECONDS = 0.3

_browser_numbers = itertools.count()


def check_join_headers(response: httpx.Response) -> None:
    """The headers every join route must carry, whatever it answered."""
    for name, value in JOIN_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy


class Browser:
    """The join page's side: open the link, ask for credentials, report the end."""

    def __init__(self, web_port: int) -> None:
        number = next(_browser_numbers)
        address = f"127.0.{number // 250}.{number % 250 + 2}"
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{web_port}",
            transport=httpx.AsyncHTTPTransport(local_address=address),
            timeout=45.0,
        )

    async def open(self, code: str) -> httpx.Response:
        response = await self.client.get(f"/join/{code}")
        check_join_headers(response)
        return response

    async def join(
        self, code: str, *, hesitate: float = HESITATE_SECONDS, secret: str | None = None
    ) -> httpx.Response:
        """What pressing Join does: the page's one POST for the call's credentials.

        A person takes a moment between the DM and the button; `hesitate=0` presses it at
        once, before Runway has the session ready (the bot then waits, "warming up").
        `secret` is what the page keeps in the browser to rejoin the same call later.
        """
        await asyncio.sleep(hesitate)
        response = await self.client.post(
            f"/join/{code}/credentials",
            headers=PAGE_HEADERS,
            json={} if secret is None else {"secret": secret},
        )
        check_join_headers(response)
        return response

    async def report_end(self, code: str, reason: str = "member_ended") -> httpx.Response:
        response = await self.client.post(
            f"/join/{code}/ended", headers=PAGE_HEADERS, json={"reason": reason}
        )
        check_join_headers(response)
        return response

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True)
class Started:
    """A /session start that worked: the reply, the DM (unless refused) and the link."""

    result: InteractionResult
    reply: Message
    dm: Message | None
    url: str
    code: str


def link_in(message: Message) -> tuple[str, str]:
    """The join URL and its code, from the embed's `[Join the call](...)` link."""
    found = LINK.search(message.embed.description or "")
    assert found is not None, f"no join link in {message.text!r}"
    return found["url"], found["code"]


async def run(
    fake: FakeDiscord, command: str, member: Member, **options: Any
) -> tuple[InteractionResult, Message]:
    """A /session subcommand as `member`: its result and its final reply (past any '⏳'
    progress line)."""
    result = await fake.invoke(command, member=member, options=options or None)
    return result, await settled_reply(fake, result, timeout=20.0)


async def start_session(
    fake: FakeDiscord, member: Member, avatar: str = PRESET, *, minutes: int | None = None
) -> Started:
    """Run /session start and expect success; the link comes by DM unless DMs are closed."""
    dms_before = len(fake.dms(member))
    options: dict[str, Any] = {"avatar": avatar}
    if minutes is not None:
        options["minutes"] = minutes
    result, reply = await run(fake, "session start", member, **options)
    assert reply.ephemeral
    if "sent you the join link by DM" in reply.text:
        dm = await link_dm(fake, member, after=dms_before)
        url, code = link_in(dm)
        return Started(result, reply, dm, url, code)
    assert "could not DM you" in reply.text, reply.text
    url, code = link_in(reply)
    return Started(result, reply, None, url, code)


async def link_dm(fake: FakeDiscord, member: Member, *, after: int) -> Message:
    """The first DM since the member's `after`-th that holds a join link. An earlier call's
    summary may arrive in between: any process announces ends from the outbox, a moment
    after the call is settled."""
    deadline = time.monotonic() + 5.0
    while True:
        for message in fake.dms(member)[after:]:
            if any(LINK.search(embed.description or "") for embed in message.embeds):
                return message
        assert time.monotonic() < deadline, f"no DM with a join link to {member.user.username}"
        await asyncio.sleep(0.02)


async def end_session(fake: FakeDiscord, member: Member) -> Message:
    _, reply = await run(fake, "session end", member)
    assert reply.ephemeral
    assert reply.text.startswith("Ended your call"), reply.text
    return reply


async def wait_for_sweep(runway: Sandbox, gets_before: int, timeout: float = 7.0) -> None:  # noqa: ASYNC109
    """Until the bot's tracker has looked at its sessions since `gets_before` GETs and
    gone quiet (it sweeps right after each start, then every few seconds)."""
    deadline = time.monotonic() + timeout
    while runway.requests("GET", SESSION_ROUTE) <= gets_before:
        assert time.monotonic() < deadline, "the tracker never looked at the new session"
        await asyncio.sleep(0.02)
    seen = -1
    while (now := runway.requests("GET", SESSION_ROUTE)) != seen:
        seen = now
        await asyncio.sleep(0.3)


# The bot's database


@dataclass(frozen=True)
class Row:
    id: int
    state: str
    used_seconds: int | None
    end_reason: str | None
    runway_id: str | None
    max_seconds: int
    join_code_hash: bytes | None
    code_used_at: int | None
    consumed_at: int | None
    seed_credentials: str | None
    created_at: int
    ended_at: int | None


def session_rows(workdir: Path, member: Member) -> list[Row]:
    """The member's sessions in their guild, oldest first, read straight from the database."""
    found = rows(
        workdir,
        "SELECT * FROM sessions WHERE guild_id = ? AND member_id = ? ORDER BY id",
        (member.guild.id, member.user.id),
    )
    return [Row(**{name: row[name] for name in Row.__dataclass_fields__}) for row in found]


def database_bytes(workdir: Path) -> bytes:
    """Everything the bot has written to its database (SQLite: the main file and its
    write-ahead log; PostgreSQL: every row of every table)."""
    return everything_stored(workdir)


def only_row(workdir: Path, member: Member) -> Row:
    rows = session_rows(workdir, member)
    assert len(rows) == 1, rows
    return rows[0]


async def wait_for_row(
    workdir: Path,
    member: Member,
    done: Callable[[Row], bool],
    *,
    index: int = -1,
    timeout: float = DB_WAIT_SECONDS,  # noqa: ASYNC109
) -> Row:
    """The member's session (the last by default) once `done` holds for it."""
    deadline = time.monotonic() + timeout
    while True:
        rows = session_rows(workdir, member)
        if rows and done(rows[index]):
            return rows[index]
        if time.monotonic() > deadline:
            raise AssertionError(f"the session did not get there within {timeout} s: {rows}")
        await asyncio.sleep(0.05)


def settled(row: Row) -> bool:
    return row.state in ("SETTLED", "RELEASED")
