"""The Discord client: a `commands.Bot` that holds the services and loads the cogs.

It asks Discord for the guilds intent only (no privileged intents, no member or message
cache): every command arrives as an interaction, which carries what it needs.
"""

from __future__ import annotations

import logging
import time

import discord
from discord.ext import commands

from bot import __version__
from bot.command_sync import StateStore, sync_if_changed
from bot.runway.client import RunwayClient
from bot.services.container import Services
from bot.settings import Settings
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
    "cogs.privacy",
)


class RunwayCharactersBot(commands.Bot):
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
        )
        self.settings = settings
        self.runway = runway
        self.services = services
        self.state = state
        self.embeds = EmbedFactory(sandbox=settings.runway_sandbox)
        self.version = __version__
        self.started_monotonic = time.monotonic()

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # Started only now that the cogs listen for settled sessions (their summary DMs).
        self.services.tracker.start()
        if self.application_id is None:
            raise RuntimeError("Discord did not tell the bot its application id")
        await sync_if_changed(
            self.tree,
            self.state,
            application_id=self.application_id,
            dev_guild_id=self.settings.dev_guild_id,
        )

    async def on_ready(self) -> None:
        log.info("ready as %s in %d servers", self.user, len(self.guilds))

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic
