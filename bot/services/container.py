"""Every service, built once from the database and the Runway client.

The composition root and the tests build services the same way, so a test exercises
exactly the wiring that runs in production.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from math import ceil

from bot.net.safe_fetch import AddressFilter, SafeFetcher, is_public
from bot.runway.client import RunwayClient
from bot.services.actors import Permissions
from bot.services.alerts import BudgetAlerts
from bot.services.avatar_pictures import AvatarPictures
from bot.services.avatars import AvatarService
from bot.services.billable import (
    INLINE_CHECK_SECONDS,
    SLOW_NOTICE_SECONDS,
    UNSURE_GRACE_SECONDS,
    BillableCalls,
)
from bot.services.channel_posts import ChannelPostProblems
from bot.services.chart_process import ChartProcess
from bot.services.conversations import ConversationService
from bot.services.images import MAX_IMAGE_BYTES
from bot.services.knowledge import KnowledgeService
from bot.services.leadership import LEASE_SECONDS, TRACKER_LEASE, Lease
from bot.services.maintenance import Maintenance
from bot.services.privacy import PrivacyService
from bot.services.processes import ProcessIdentity
from bot.services.quotas import QuotaService, default_limits
from bot.services.reconcile_kinds import AvatarHandler, DocumentHandler, SessionHandler
from bot.services.reconcile_videos import VideoHandler
from bot.services.reconciler import DEAD_OWNER_GRACE_SECONDS, INTERVAL_SECONDS, Reconciler
from bot.services.sessions import SessionService
from bot.services.shard_claims import ShardClaims
from bot.services.tracker import SessionTracker
from bot.services.usage_reports import UsageReports
from bot.services.video_quotas import VideoQuotas
from bot.services.video_tracker import POLL_SECONDS, RENDER_TIMEOUT_SECONDS, VideoTracker
from bot.services.videos import VideoService
from bot.services.voices import VoiceCatalog
from bot.services.waiting_line import WaitingLine
from bot.services.welcome import Welcomes
from bot.settings import ProcessRole
from bot.storage import (
    AppStateRepository,
    AuditRepository,
    AvatarRepository,
    Database,
    DocumentRepository,
    GuildSettingsRepository,
    SessionRepository,
    UsageRepository,
)
from bot.storage.books import BooksRepository
from bot.storage.conversations import ConversationRepository
from bot.storage.held_usage import HeldUsageRepository
from bot.storage.intents import IntentRepository, ProcessRepository
from bot.storage.leases import LeaseRepository
from bot.storage.pictures import PictureRepository
from bot.storage.privacy import PrivacyRepository
from bot.storage.quotas import QuotaRepository
from bot.storage.retention import RetentionRepository
from bot.storage.shards import ShardClaimRepository
from bot.storage.sql import Engine
from bot.storage.videos import VideoRepository
from bot.storage.waiting_line import WaitingLineRepository
from bot.storage.wakeups import Wakeups
from bot.storage.welcomes import WelcomeRepository
from bot.workers.pool import WorkerPool

IMAGES_AT_ONCE = 2
"""Images decoded at once, each in its own worker (tens of MB for a moment each)."""
MEDIA_AT_ONCE = 2
"""Recordings checked and videos measured at once, each in its own worker (FFmpeg)."""
VIDEO_MAX_BYTES = 100 * 1024 * 1024
"""The largest video the bot downloads: the largest upload a Discord server takes (level 3)."""


def video_fetcher(
    *, allow: AddressFilter = is_public, ssl_context: ssl.SSLContext | None = None
) -> SafeFetcher:
    """Downloads Runway's finished videos: https only, at most a Discord server's largest
    upload, in at most two minutes. `allow` and `ssl_context` let it reach a sandbox's own
    https server on this machine."""
    return SafeFetcher(
        max_bytes=VIDEO_MAX_BYTES,
        timeout=120.0,
        accept="video/*",
        allow=allow,
        ssl_context=ssl_context,
    )


@dataclass(frozen=True, slots=True)
class Services:
    guilds: GuildSettingsRepository
    state: AppStateRepository
    permissions: Permissions
    avatars: AvatarService
    knowledge: KnowledgeService
    sessions: SessionService
    tracker: SessionTracker
    quotas: QuotaService
    alerts: BudgetAlerts
    usage: UsageReports
    pictures: AvatarPictures
    welcomes: Welcomes
    channel_posts: ChannelPostProblems
    identity: ProcessIdentity
    shards: ShardClaims
    reconciler: Reconciler
    privacy: PrivacyService
    maintenance: Maintenance
    charts: ChartProcess
    videos: VideoService
    video_quotas: VideoQuotas
    conversations: ConversationService
    line: WaitingLine

    async def close(self) -> None:
        """Stop what runs beside the requests: the scheduled upkeep, the deletions at Runway,
        the waiting line and the chart process."""
        await self.maintenance.stop()
        await self.conversations.stop()
        await self.line.stop()
        await self.charts.close()


async def build_services(
    database: Database,
    runway: RunwayClient,
    *,
    join_base_url: str,
    session_max_seconds: int,
    max_live_per_guild: int,
    runway_max_live_sessions: int = 5,
    fetcher: SafeFetcher | None = None,
    avatar_poll_interval: float = 2.0,
    session_poll_interval: float = 1.0,
    tracker_poll_seconds: float = 5.0,
    unsure_grace_seconds: int | None = None,
    inline_check_seconds: float | None = None,
    slow_notice_seconds: float = SLOW_NOTICE_SECONDS,
    reconcile_interval: float = INTERVAL_SECONDS,
    videos_from: SafeFetcher | None = None,
    video_poll_seconds: float = POLL_SECONDS,
    video_render_timeout: int = RENDER_TIMEOUT_SECONDS,
    line_poll_seconds: float = 10.0,
    role: ProcessRole = ProcessRole.ALL,
    lease_seconds: int = LEASE_SECONDS,
) -> Services:
    """Build every service; registers this process (its id owns what it reserves)."""
    # One process at a time on the SQLite file; several on PostgreSQL (see processes.py).
    identity = ProcessIdentity(
        ProcessRepository(database), exclusive=database.engine is Engine.SQLITE, role=role
    )
    await identity.register()
    intents = IntentRepository(database)
    # Runway may still be working on a create it did not answer for about half as long as the
    # bot waits for answers; the member's reply looks that long (and at most 20 s) itself.
    grace = unsure_grace_seconds or max(
        1, min(UNSURE_GRACE_SECONDS, ceil(runway.create_read_seconds / 2))
    )
    billable = BillableCalls(
        intents,
        grace_seconds=grace,
        inline_seconds=inline_check_seconds or min(INLINE_CHECK_SECONDS, grace + 1.0),
        slow_notice_seconds=slow_notice_seconds,
    )
    guilds = GuildSettingsRepository(database)
    state = AppStateRepository(database)
    permissions = Permissions(guilds)
    avatars = AvatarRepository(database)
    documents = DocumentRepository(database)
    voices = VoiceCatalog(runway.rules, state)
    await voices.load()
    fetcher = fetcher or SafeFetcher(max_bytes=MAX_IMAGE_BYTES)
    images = WorkerPool(IMAGES_AT_ONCE)
    pictures = AvatarPictures(PictureRepository(database), fetcher, images)
    audit = AuditRepository(database)
    avatar_service = AvatarService(
        avatars=avatars,
        documents=documents,
        audit=audit,
        permissions=permissions,
        runway=runway,
        voices=voices,
        pictures=pictures,
        billable=billable,
        identity=identity,
        images=images,
        fetcher=fetcher,
        poll_interval=avatar_poll_interval,
    )
    sessions = SessionRepository(database)
    usage = UsageRepository(database)
    tracker = SessionTracker(
        sessions=sessions,
        runway=runway,
        poll_seconds=tracker_poll_seconds,
        # One process runs on an SQLite file: it leads alone, at once after a restart too.
        lease=None
        if database.engine is Engine.SQLITE
        else Lease(
            LeaseRepository(database), TRACKER_LEASE, lambda: identity.id, seconds=lease_seconds
        ),
        wakeups=Wakeups(database),
    )
    video_records = VideoRepository(database)
    media = WorkerPool(MEDIA_AT_ONCE)
    video_tracker = VideoTracker(
        videos=video_records,
        runway=runway,
        fetcher=videos_from or video_fetcher(),
        media=media,
        poll_seconds=video_poll_seconds,
        render_timeout=video_render_timeout,
    )
    reconciler = Reconciler(
        intents=intents,
        sessions=sessions,
        identity=identity,
        handlers=[
            AvatarHandler(avatars, runway),
            DocumentHandler(documents, runway),
            SessionHandler(sessions, runway, tracker.cancel_remote),
            VideoHandler(video_records, video_tracker),
        ],
        interval=reconcile_interval,
        dead_grace=min(DEAD_OWNER_GRACE_SECONDS, grace),
    )
    billable.finder = reconciler
    charts = ChartProcess()
    quota_records = QuotaRepository(database)
    quotas = QuotaService(
        quotas=quota_records,
        guilds=guilds,
        defaults=default_limits(
            max_live_per_guild=max_live_per_guild,
            session_max_seconds=runway.rules.clamp_session_seconds(session_max_seconds),
        ),
        account_slots=runway_max_live_sessions,
    )
    privacy = PrivacyService(
        privacy=PrivacyRepository(database),
        held=HeldUsageRepository(database),
        retention=RetentionRepository(database),
        guilds=guilds,
        quotas=quotas,
    )
    conversations = ConversationService(
        conversations=ConversationRepository(database),
        sessions=sessions,
        guilds=guilds,
        audit=audit,
        runway=runway,
    )
    session_service = SessionService(
        sessions=sessions,
        avatars=avatar_service,
        runway=runway,
        tracker=tracker,
        quotas=quotas,
        join_base_url=join_base_url,
        max_seconds=session_max_seconds,
        ready_poll=session_poll_interval,
        billable=billable,
        identity=identity,
        conversations=conversations,
    )
    video_quotas = VideoQuotas(quotas=quotas, videos=video_records)
    return Services(
        guilds=guilds,
        state=state,
        permissions=permissions,
        avatars=avatar_service,
        knowledge=KnowledgeService(
            avatars=avatars,
            documents=documents,
            permissions=permissions,
            runway=runway,
            billable=billable,
            identity=identity,
            counter=WorkerPool(1),
        ),
        sessions=session_service,
        tracker=tracker,
        quotas=quotas,
        alerts=BudgetAlerts(
            quotas=quotas, repository=quota_records, usage=usage, videos=video_records
        ),
        usage=UsageReports(
            usage=usage,
            sessions=sessions,
            books=BooksRepository(database),
            quotas=quotas,
            runway=runway,
            charts=charts,
            videos=video_records,
        ),
        pictures=pictures,
        welcomes=Welcomes(WelcomeRepository(database)),
        channel_posts=ChannelPostProblems(audit),
        identity=identity,
        shards=ShardClaims(ShardClaimRepository(database), identity),
        reconciler=reconciler,
        privacy=privacy,
        maintenance=Maintenance(privacy=privacy, optimize=database.optimize),
        charts=charts,
        videos=VideoService(
            videos=video_records,
            runway=runway,
            billable=billable,
            identity=identity,
            quotas=video_quotas,
            permissions=permissions,
            audit=audit,
            voices=voices,
            avatars=avatar_service,
            media=media,
            tracker=video_tracker,
        ),
        video_quotas=video_quotas,
        conversations=conversations,
        line=WaitingLine(
            line=WaitingLineRepository(database),
            sessions=session_service,
            session_rows=sessions,
            tracker=tracker,
            quotas=quotas,
            identity=identity,
            slots=runway_max_live_sessions,
            dialect=runway.rules.dialect,
            poll_seconds=line_poll_seconds,
        ),
    )
