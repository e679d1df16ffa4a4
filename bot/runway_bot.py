"""The Discord client: an auto-sharded bot that holds the services and loads the cogs.

It asks Discord for the guilds intent only (no privileged intents, no member or message
cache): every command arrives as an interaction, which carries what it needs. It always
shards, so one code path serves a bot in one server and a bot past Discord's 2,500-server
limit: it runs the shards SHARD_COUNT/SHARD_IDS give this process, or as many as Discord
recommends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import discord
from discord.ext import commands

from bot import __version__
from bot.command_sync import StateStore, sync_if_changed
from bot.discord_permissions import invite_url
from bot.runway.client import RunwayClient
from bot.services.container import Services
from bot.settings import Settings
from bot.sharding import IdentifyPacer, describe_shard_ids, shard_of
from bot.telemetry import context as log_context
from bot.ui.embeds import EmbedFactory
from bot.ui.tree import ErrorReportingTree

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.about",
    "cogs.avatar",
    "cogs.knowledge",
    "cogs.session",
    "cogs.quota",
    "cogs.usage",
    "cogs.welcome",
    "cogs.help",
    "cogs.recovery",
    "cogs.privacy",
    "cogs.calls",
)


class RunwayCharactersBot(commands.AutoShardedBot):
    # The bot never joins voice channels: video calls happen in the browser via LiveKit.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False

    def __init__(
        self,
        *,
        settings: Settings,
        runway: RunwayClient,
        services: Services,
        state: StateStore,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=ErrorReportingTree,
            help_command=None,
            max_messages=None,
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=settings.shard_count,
        )
        # Set here, not passed above: discord.py's option type has no "None: every shard",
        # though None is its default. Settings made sure SHARD_COUNT comes with SHARD_IDS.
        self.shard_ids = settings.process_shard_ids
        self.settings = settings
        self.runway = runway
        self.services = services
        self.state = state
        self.embeds = EmbedFactory(sandbox=settings.runway_sandbox)
        self.version = __version__
        self.started_monotonic = time.monotonic()
        self._identify_pacer: IdentifyPacer | None = None
        self._answering: set[asyncio.Task[Any]] = set()
        self.fault: str | None = None
        """Why the bot stopped by itself, if it did (the process then exits 1)."""
        self._closing_for_fault: asyncio.Task[None] | None = None
        self._bind_log_context_to_interactions()

    def _bind_log_context_to_interactions(self) -> None:
        """Give everything an interaction sets off (its command, autocomplete, button or
        form, and the tasks they start) the interaction's id, server and shard as log context.

        discord.py parses INTERACTION_CREATE in one synchronous call that creates the tasks
        handling it; binding the context around that call is the one place every kind of
        interaction passes, and tasks copy the context they were created in. The parser
        table is discord.py's own (`ConnectionState.parsers`, stable across 2.x); the
        gateway reads it by event name when the event arrives.
        """
        parsers = self._connection.parsers
        parse = parsers["INTERACTION_CREATE"]

        def parse_in_context(data: Any) -> None:
            guild = data.get("guild_id")
            guild_id = int(guild) if guild else None
            before = asyncio.all_tasks()
            with log_context.bound(
                request_id=str(data.get("id")), guild_id=guild_id, shard=self.shard_for(guild_id)
            ):
                parse(data)
            # The tasks this interaction set off, for `drain` to wait on at shutdown.
            for task in asyncio.all_tasks() - before:
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)

        parsers["INTERACTION_CREATE"] = parse_in_context

    async def setup_hook(self) -> None:
        await self._claim_shards()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # Started only now that the cogs listen for settled sessions and reconciled intents
        # (their DMs). The first reconciliation settles whatever a killed process left.
        self.services.identity.start_heartbeat()
        self.services.reconciler.start()
        self.services.tracker.start()
        self.services.videos.tracker.start()
        self.services.line.start()
        if self.application_id is None:
            raise RuntimeError("Discord did not tell the bot its application id")
        await sync_if_changed(
            self.tree,
            self.state,
            application_id=self.application_id,
            dev_guild_id=self.settings.dev_guild_id,
        )
        log.info("invite link (adds the bot to a server): %s", self.invite_url)

    @property
    def process_shard_ids(self) -> tuple[int, ...]:
        """The shards this process runs: SHARD_IDS, or all of SHARD_COUNT's or of Discord's
        recommended count. Empty until `setup_hook` has asked Discord for its
        recommendation, when SHARD_COUNT is unset (see `_claim_shards`)."""
        if self.shard_count is None:
            return ()
        if self.shard_ids is None:
            return tuple(range(self.shard_count))
        return tuple(self.shard_ids)

    def shard_for(self, guild_id: int | None) -> int:
        """The shard that receives this guild's events (shard 0 for DMs)."""
        return shard_of(guild_id, self.shard_count or 1)

    def describe_process_shards(self) -> str:
        """E.g. "shards 0-1 of 4", for the logs."""
        ids = self.process_shard_ids
        noun = "shard" if len(ids) == 1 else "shards"
        return f"{noun} {describe_shard_ids(ids)} of {self.shard_count}"

    async def _claim_shards(self) -> None:
        """Claim this process's shards in the database before anything else starts.

        The shard count may be known only now: with SHARD_COUNT unset, this asks
        `GET /gateway/bot` for Discord's recommendation (which discord.py would otherwise
        ask just before connecting) and keeps it. A refused claim (`ShardClaimRefused`)
        ends `start()` before the tracker or any shard starts: the composition root turns
        it into one line and exit status 2.
        """
        if self.shard_count is None:
            self.shard_count, _, _ = await self.http.get_bot_gateway()
        await self.services.shards.claim(self.process_shard_ids, self.shard_count)
        self.services.shards.watch(self._shards_lost)

    def _shards_lost(self, reason: str) -> None:
        """Another process took this one's shards: stop at once (see `ShardClaims.watch`)."""
        log.error("%s", reason)
        self.fault = reason
        self._closing_for_fault = asyncio.create_task(self.close(), name="shards-lost")

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Pace each shard's IDENTIFY by Discord's session start limit (`max_concurrency`).

        The first call comes after `setup_hook` has claimed this process's shards and before
        anything has identified: the place to announce which shards this process runs.
        """
        if self._identify_pacer is None:
            limits = await self.fetch_session_start_limits()
            self._identify_pacer = IdentifyPacer(limits.max_concurrency)
            source = "SHARD_COUNT" if self.settings.shard_count else "Discord's recommendation"
            log.info(
                "this process runs %s (count from %s; %d may identify at once)",
                self.describe_process_shards(),
                source,
                limits.max_concurrency,
            )
        await self._identify_pacer.wait_turn(shard_id or 0)

    async def drain(self, within: float) -> int:
        """Stop receiving events, then wait up to `within` seconds for the interactions
        being answered (a session start half-way through Runway, say) to finish; returns
        how many are still running. For a rolling restart: the shards' events stop here, so
        nothing new starts, while REST stays open for the replies in flight to be sent."""
        pending = {task for task in self._answering if not task.done()}
        if not pending:
            return 0  # `close`, which comes next, closes the shards as quickly
        log.info("finishing %d interactions in flight", len(pending))
        await asyncio.gather(*(shard.disconnect() for shard in self.shards.values()))
        _, pending = await asyncio.wait(pending, timeout=within)
        return len(pending)

    async def on_shard_ready(self, shard_id: int) -> None:
        servers = sum(1 for guild in self.guilds if guild.shard_id == shard_id)
        log.info("shard %d of %s ready in %d servers", shard_id, self.shard_count, servers)

    async def on_ready(self) -> None:
        log.info(
            "ready as %s in %d servers on %s",
            self.user,
            len(self.guilds),
            self.describe_process_shards(),
        )

    @property
    def invite_url(self) -> str:
        """The link that adds this bot to a server, asking for exactly what it uses."""
        if self.application_id is None:
            raise RuntimeError("the invite link is known once the bot has logged in")
        return invite_url(self.application_id)

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic
