"""The composition root: builds every part once and owns start-up and shutdown order.

Order matters: the database first (everything records into it), then Runway (real or the
in-process sandbox), then the web server, and the Discord client last, so that nothing a
member triggers can reach a part that is not running yet. Shutdown runs the other way.
A web-only process (BOT_ROLE=web) stops after the web server: no Discord client, no tracker.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import discord
from pydantic import SecretStr

from bot import __version__
from bot.discord_endpoint import use_discord_api_base
from bot.gateway_metrics import gateway_source
from bot.net.safe_fetch import SafeFetcher
from bot.runway.client import RunwayClient
from bot.runway_bot import RunwayCharactersBot
from bot.services.container import Services, build_services, video_fetcher
from bot.services.live_metrics import LiveMetrics
from bot.services.shard_claims import ShardClaimRefused
from bot.settings import ProcessRole, Settings
from bot.storage.database import Database
from bot.storage.live_stats import LiveStatsRepository
from bot.telemetry.metrics import BUILD_INFO
from bot.telemetry.redaction import REDACT
from bot.web.assets import find_livekit_dist
from bot.web.metrics import MetricsEndpoint, build_metrics_app
from bot.web.security import JoinRateLimits
from bot.web.server import build_app, serving

log = logging.getLogger(__name__)

SANDBOX_BANNER = (
    "RUNWAY SANDBOX MODE: Runway is emulated inside this process. Avatars and sessions are "
    "not real and no credits are spent."
)


# Gateway close codes that mean SHARD_COUNT is wrong for this bot (Discord's close-code table).
SHARD_REFUSALS = {
    4010: "Discord refused shard {shard} (close code 4010, invalid shard): a bot Discord "
    "has moved to large-bot sharding must run a multiple of the shard count it was given. "
    "Fix SHARD_COUNT, or unset SHARD_COUNT and SHARD_IDS to run the count Discord recommends.",
    4011: "Discord closed shard {shard}: it would carry more than 2,500 servers (close code "
    "4011, sharding required). Raise SHARD_COUNT, or unset SHARD_COUNT and SHARD_IDS to run "
    "the count Discord recommends.",
}


DRAIN_SECONDS = 20
"""How long a stopping bot process lets the interactions it is answering finish: longer than
a session start takes when Runway is healthy, within Docker's 30 s stop_grace_period (see
deploy/compose.yaml)."""


class StartupError(Exception):
    """A problem an operator must fix before the bot can run; its message says how.

    `exit_code` 2 means the configuration is wrong, 1 that the surroundings are (network).
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StoppedError(Exception):
    """The bot stopped by itself while running; the message says why (exit status 1)."""


@asynccontextmanager
async def runway_client(settings: Settings) -> AsyncIterator[tuple[RunwayClient, SafeFetcher]]:
    """The real Runway, or the built-in sandbox on a loopback port when asked for; and the
    fetcher that downloads its finished videos (in sandbox mode, from the sandbox's own https
    server on loopback, whose certificate it trusts)."""
    media_ca: bytes | None = None
    if settings.runway_media_ca_file is not None:
        media_ca = settings.runway_media_ca_file.read_bytes()
    async with AsyncExitStack() as stack:
        if settings.runway_sandbox:
            # Imported only here: a live deployment never loads the emulator (~10 MiB).
            from bot.runway.sandbox import Sandbox  # noqa: PLC0415

            log.warning(SANDBOX_BANNER)
            key = SecretStr(secrets.token_urlsafe(24))
            REDACT.remember(key.get_secret_value())
            sandbox = Sandbox(dialect=settings.runway_api_dialect, api_key=key.get_secret_value())
            await stack.enter_async_context(sandbox.serve(host="127.0.0.1", port=0))
            base_url = sandbox.base_url
            media_ca = sandbox.media_ca_pem
        else:
            assert settings.runwayml_api_secret is not None  # the settings validator ensures it
            key = settings.runwayml_api_secret
            base_url = str(settings.runway_base_url)
        client = RunwayClient(
            base_url=base_url,
            api_key=key,
            dialect=settings.runway_api_dialect,
            create_read_seconds=settings.runway_create_timeout_seconds,
        )
        fetcher = video_fetcher()
        if media_ca is not None:
            fetcher = video_fetcher(
                allow=lambda address: address.is_loopback,
                ssl_context=ssl.create_default_context(cadata=media_ca.decode("ascii")),
            )
        yield await stack.enter_async_context(client), fetcher


def metrics_endpoint(
    settings: Settings, database: Database, runway: RunwayClient
) -> MetricsEndpoint | None:
    """What `/metrics` serves, if the operator asked for metrics; the gateway's source is
    added once there is a gateway client (never in a web-only process)."""
    if not settings.metrics_enabled:
        return None
    BUILD_INFO.labels(version=__version__).set(1)
    endpoint = MetricsEndpoint(settings.metrics_token)
    live = LiveMetrics(LiveStatsRepository(database), create_seconds=runway.create_read_seconds)
    endpoint.add_source("database", live)
    return endpoint


def sandbox_livekit(settings: Settings) -> list[str]:
    """The sandbox's stand-in LiveKit address, which its join pages must be allowed to try."""
    if not settings.runway_sandbox:
        return []
    from bot.runway.sandbox import SandboxConfig  # noqa: PLC0415 - sandbox mode only

    return [SandboxConfig().livekit_url]


async def run(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then stop every part in reverse order."""
    if settings.discord_api_base_url is not None:
        use_discord_api_base(str(settings.discord_api_base_url))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with AsyncExitStack() as stack:
        database = await stack.enter_async_context(
            Database.open(settings.database_target, pool_size=settings.database_pool_size)
        )
        runway, videos_from = await stack.enter_async_context(runway_client(settings))
        services = await build_services(
            database,
            runway,
            join_base_url=settings.join_base_url,
            session_max_seconds=settings.session_max_minutes * 60,
            max_live_per_guild=settings.max_live_sessions_per_server,
            videos_from=videos_from,
            video_poll_seconds=settings.video_poll_seconds,
            video_render_timeout=settings.video_render_timeout_seconds,
            runway_max_live_sessions=settings.runway_max_live_sessions,
            role=settings.bot_role,
        )
        # Retention and planner statistics on a schedule; stopped (with the chart process)
        # before the database closes.
        stack.push_async_callback(services.close)
        metrics = metrics_endpoint(settings, database, runway)
        web_app = build_app(
            services.sessions,
            livekit_dist=find_livekit_dist(),
            livekit_origins=[*settings.livekit_origin_list, *sandbox_livekit(settings)],
            rate_limits=JoinRateLimits(trust_forwarded_for=settings.trust_forwarded_for),
            metrics=metrics if settings.metrics_port is None else None,
            role=settings.bot_role.value,
        )
        await stack.enter_async_context(
            serving(web_app, host=settings.web_host, port=settings.web_port)
        )
        if metrics is not None and settings.metrics_port is not None:
            await stack.enter_async_context(
                serving(
                    build_metrics_app(metrics),
                    host=settings.metrics_host,
                    port=settings.metrics_port,
                )
            )
        if settings.bot_role is ProcessRole.WEB:
            await _serve_web_only(services, stop)
            return
        services.maintenance.start()
        services.conversations.start()
        bot = RunwayCharactersBot(
            settings=settings, runway=runway, services=services, state=services.state
        )
        if metrics is not None:
            metrics.add_source("gateway", gateway_source(bot, services.shards))
        await stack.enter_async_context(bot)
        # The bot starts the tracker once its cogs listen for settled sessions; it stops
        # before the bot closes (below), and here too if start-up fails half-way.
        stack.push_async_callback(services.identity.stop)
        stack.push_async_callback(services.shards.release)
        stack.push_async_callback(services.reconciler.stop)
        stack.push_async_callback(services.tracker.stop)
        stack.push_async_callback(services.videos.tracker.stop)
        stack.push_async_callback(services.line.stop)
        assert settings.discord_token is not None  # the settings require it of a bot process
        client_task = asyncio.create_task(
            bot.start(settings.discord_token.get_secret_value()), name="discord-client"
        )
        stop_task = asyncio.create_task(stop.wait(), name="stop-signal")
        done, _ = await asyncio.wait({client_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        if client_task in done:
            _raise_startup_problem(client_task)
        log.info("stopping")
        unfinished = await bot.drain(DRAIN_SECONDS)
        if unfinished:
            log.warning(
                "%d interactions still running after %d s; stopping anyway (the next "
                "process resolves what they leave)",
                unfinished,
                DRAIN_SECONDS,
            )
        await services.line.stop()
        await services.tracker.stop()
        await services.videos.tracker.stop()
        await services.reconciler.stop()
        await bot.close()
        await asyncio.gather(client_task, return_exceptions=True)
        if bot.fault is not None:
            raise StoppedError(bot.fault)


async def _serve_web_only(services: Services, stop: asyncio.Event) -> None:
    """BOT_ROLE=web: the join pages (already serving), a heartbeat so the cluster sees this
    process, and nothing else: no gateway, no tracker, no scheduled work, which the bot
    processes do."""
    services.identity.start_heartbeat()
    log.info("web-only process: serving join pages without a Discord connection")
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await services.identity.stop()


def _raise_startup_problem(task: asyncio.Task[None]) -> None:
    error = task.exception()
    if isinstance(error, discord.LoginFailure):
        raise StartupError(
            "Discord refused DISCORD_TOKEN. Copy the bot token again from the developer "
            "portal (Bot > Reset Token) and restart."
        )
    if isinstance(error, discord.PrivilegedIntentsRequired):
        raise StartupError("Discord refused the bot's intents; this bot needs none privileged.")
    if isinstance(error, discord.ConnectionClosed) and error.code in SHARD_REFUSALS:
        raise StartupError(SHARD_REFUSALS[error.code].format(shard=error.shard_id))
    if isinstance(error, aiohttp.ClientConnectorError):
        raise StartupError(
            f"Discord could not be reached ({error.host}): check this machine's network.",
            exit_code=1,
        )
    if isinstance(error, ShardClaimRefused):
        raise StartupError(f"the shards it would run are taken: {error}")
    if error is not None:
        raise error
