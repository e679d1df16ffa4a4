"""A cluster of real processes for the multi-process tests (issues 11 and 12).

Three bot processes (SHARD_COUNT=3, one shard each) and two web-only processes (BOT_ROLE=web)
on one PostgreSQL database, one fake Discord routing each guild to its shard, one Runway
sandbox in the test process. Each process is `python -m bot`, configured only through its
environment, exactly as `test_cluster_roles.py` and `test_sharding.py` start one; a test may
SIGKILL or SIGTERM any of them and start a replacement on the same shard.

Also here: what a test reads out of the cluster's books (live sessions, the tracker's lease,
summary DMs) and the join page's side, racing the two web processes for each code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.runway.sandbox import Sandbox
from tests.e2e.avatar_steps import settled as settled_reply
from tests.e2e.conftest import runway_settings
from tests.e2e.database import database_settings, rows
from tests.e2e.realbot import start_real_bot
from tests.e2e.session_steps import LINK, PRESET, Browser
from tests.fakediscord import BotProcess, FakeDiscord, Member, Message, bot_environment, free_port

SHARDS = 3
WEB_READY = r"web-only process: serving join pages without a Discord connection"
SUMMARY_TITLE = "has ended"
TRACKER_LEASE = "session-tracker"

# What a /session start's reply says, by outcome: admitted, a place in the waiting line, or
# the limit that refused it (`bot.services.quotas.explain`'s words).
OUTCOMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("member_live_offer", ("is still live (",)),
    ("admitted", ("sent you the join link by DM", "could not DM you")),
    ("waited", (" in line",)),
    ("member_live", ("You already have a live session here",)),
    ("guild_live", ("as many live sessions as it allows",)),
    ("member_day", ("Your daily", "your daily")),
    ("guild_day", ("This server's daily", "this server's daily")),
    ("guild_month", ("This server's monthly", "this server's monthly")),
    ("account_live", ("Every call slot of this bot is busy",)),
)


STUCK = "stuck thinking"
REPLY_SECONDS = 20.0  # a start's answer, however busy the cluster; any later one is stuck


def outcome_of(text: str) -> str:
    for outcome, phrases in OUTCOMES:
        if any(phrase in text for phrase in phrases):
            return outcome
    return f"other: {text[:120]}"


@dataclass
class Cluster:
    fake: FakeDiscord
    runway: Sandbox
    workdir: Path
    account_live: int
    bots: dict[int, BotProcess] = field(default_factory=dict)  # by the shard each runs
    webs: list[BotProcess] = field(default_factory=list)
    web_ports: list[int] = field(default_factory=list)
    retired: list[BotProcess] = field(default_factory=list)  # killed or replaced

    def bot_settings(self, shard: int) -> dict[str, str]:
        return {
            **runway_settings(self.runway, free_port()),
            "SHARD_COUNT": str(SHARDS),
            "SHARD_IDS": str(shard),
            "RUNWAY_MAX_LIVE_SESSIONS": str(self.account_live),
        }

    async def start_bot(self, shard: int) -> BotProcess:
        bot = await start_real_bot(
            self.fake, self.workdir, self.bot_settings(shard), name=f"bot-{shard}"
        )
        self.bots[shard] = bot
        return bot

    async def start_web(self) -> BotProcess:
        """`python -m bot` with BOT_ROLE=web: no Discord token, no gateway connection."""
        port = free_port()
        env = bot_environment(
            self.fake.base_url,
            database_path=self.workdir / "unused.db",
            web_port=port,
            extra={
                **runway_settings(self.runway, port),
                **database_settings(self.workdir),
                "BOT_ROLE": "web",
            },
        )
        for name in ("DISCORD_TOKEN", "PUBLIC_URL", "DISCORD_API_BASE_URL"):
            env.pop(name)
        web = await BotProcess.start(["-m", "bot"], env, name=f"web-{len(self.webs)}")
        try:
            await web.wait_for_line(WEB_READY, 60)
        except BaseException:
            await web.stop()
            raise
        self.webs.append(web)
        self.web_ports.append(port)
        return web

    def process(self, pid: int) -> tuple[int, BotProcess]:
        """The bot process (and its shard) whose pid is `pid`."""
        for shard, bot in self.bots.items():
            if bot.pid == pid:
                return shard, bot
        raise AssertionError(f"pid {pid} is none of the running bot processes")

    async def stop(self) -> dict[str, int]:
        """SIGTERM everything still running; the exit status of each by name."""
        codes = {}
        for process in [*self.bots.values(), *self.webs, *self.retired]:
            code = await process.stop()
            if process not in self.retired:
                codes[process.name] = code
        return codes

    def tails(self) -> str:
        return "\n\n".join(
            f"--- {p.name} (pid {p.pid})\n{p.tail(40)}"
            for p in [*self.bots.values(), *self.webs, *self.retired]
        )


# Starting calls


async def start_call(
    fake: FakeDiscord, member: Member, *, after: float = 0.0, minutes: int = 1
) -> tuple[str, Message]:
    """A /session start as `member`, `after` seconds from now: its outcome (see OUTCOMES)
    and the settled reply."""
    await asyncio.sleep(after)
    result = await fake.invoke(
        "session start", member=member, options={"avatar": PRESET, "minutes": minutes}
    )
    try:
        reply = await settled_reply(fake, result, timeout=REPLY_SECONDS)
    except TimeoutError:  # acknowledged ("thinking"), then never answered
        return STUCK, await result.original()
    return outcome_of(reply.text), reply


# The books


def live_sessions(workdir: Path) -> list[dict[str, object]]:
    return rows(
        workdir,
        "SELECT id, guild_id, member_id, state, runway_id, consumed_at, code_used_at "
        "FROM sessions WHERE state IN ('RESERVED', 'OPEN') ORDER BY id",
    )


def waiting(workdir: Path) -> int:
    return int(rows(workdir, "SELECT count(*) AS n FROM waiting_line")[0]["n"])


def waiting_members(workdir: Path) -> list[dict[str, object]]:
    """(guild_id, member_id) of each member waiting in line, not yet given a slot."""
    return rows(workdir, "SELECT guild_id, member_id FROM waiting_line WHERE state = 'WAITING'")


def tracker_leader(workdir: Path) -> int | None:
    """The pid of the process holding the tracker's lease, if one holds it now."""
    found = rows(
        workdir,
        "SELECT p.pid FROM leases l JOIN processes p ON p.id = l.holder "
        "WHERE l.name = ? AND l.expires_at > extract(epoch FROM now())",
        (TRACKER_LEASE,),
    )
    return None if not found else int(found[0]["pid"])


def summaries(fake: FakeDiscord, member: Member) -> list[Message]:
    return [m for m in fake.dms(member) if m.embeds and SUMMARY_TITLE in (m.embeds[0].title or "")]


def codes_sent(fake: FakeDiscord, member: Member) -> list[str]:
    """Every join code the bot DMed to `member`, oldest first."""
    found = []
    for message in fake.dms(member):
        for embed in message.embeds:
            link = LINK.search(embed.description or "")
            if link is not None:
                found.append(link["code"])
    return found


def peak_overlap(intervals: Iterable[tuple[int, int | None]]) -> int:
    """The most intervals [start, end) open at once (end None: still open). A session that
    ended in the second another began is not counted with it: the seconds of the books cannot
    order them, so this may miss an overshoot within one second but never invents one."""
    events = sorted(
        [(start, 1) for start, _ in intervals]
        + [(end, -1) for _, end in intervals if end is not None]
    )
    peak = now = 0
    for _, step in events:  # at equal times the -1 sorts first
        now += step
        peak = max(peak, now)
    return peak


class LiveWatcher:
    """Samples the live sessions in the database while a test runs: the most seen at once,
    for the whole account, per server and per member (a second look beside `peak_overlap`)."""

    def __init__(self, workdir: Path, every: float = 0.1) -> None:
        self._workdir = workdir
        self._every = every
        self.account = 0
        self.guild: Counter[int] = Counter()
        self.member: Counter[tuple[int, int]] = Counter()
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> LiveWatcher:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def _run(self) -> None:
        while True:
            live = await asyncio.to_thread(live_sessions, self._workdir)
            self.account = max(self.account, len(live))
            guilds = Counter(int(str(r["guild_id"])) for r in live)
            members = Counter((int(str(r["guild_id"])), int(str(r["member_id"]))) for r in live)
            for key, count in guilds.items():
                self.guild[key] = max(self.guild[key], count)
            for pair, count in members.items():
                self.member[pair] = max(self.member[pair], count)
            await asyncio.sleep(self._every)


# The join page, from both web processes at once


@dataclass(frozen=True)
class Race:
    statuses: tuple[int, ...]
    states: tuple[str | None, ...]

    @property
    def winners(self) -> int:
        return self.statuses.count(200)


async def race_redeem(ports: Iterable[int], code: str) -> Race:
    """POST the code's credentials to every web process at the same moment."""
    browsers = [Browser(port) for port in ports]
    try:
        answers = await asyncio.gather(*(b.join(code, hesitate=0) for b in browsers))
    finally:
        for browser in browsers:
            await browser.aclose()
    states = []
    for answer in answers:
        state = None
        if answer.status_code != 200:
            with contextlib.suppress(ValueError):
                state = answer.json().get("state")
        states.append(state)
    return Race(tuple(a.status_code for a in answers), tuple(states))


async def join_page_answers(port: int) -> bool:
    """Whether the web process on `port` serves a join page (any code: its 404 page counts)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        try:
            response = await client.get(f"http://127.0.0.1:{port}/join/not-a-real-code")
        except httpx.HTTPError:
            return False
    return response.status_code in (200, 404)


async def until(what: str, done: object, timeout: float, every: float = 0.1) -> float:  # noqa: ASYNC109
    """Poll `done()` until true; the seconds it took."""
    began = time.monotonic()
    while not done():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(every)
    return time.monotonic() - began
