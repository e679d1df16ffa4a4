"""Every service, built once from the database and the Runway client.

The composition root and the tests build services the same way, so a test exercises
exactly the wiring that runs in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.net.safe_fetch import SafeFetcher
from bot.runway.client import RunwayClient
from bot.services.actors import Permissions
from bot.services.alerts import BudgetAlerts
from bot.services.avatars import AvatarService
from bot.services.chart_process import ChartProcess
from bot.services.knowledge import KnowledgeService
from bot.services.maintenance import Maintenance
from bot.services.privacy import PrivacyService
from bot.services.quotas import QuotaService, default_limits
from bot.services.sessions import SessionService
from bot.services.tracker import SessionTracker
from bot.services.usage_reports import UsageReports
from bot.services.voices import VoiceCatalog
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
from bot.storage.privacy import PrivacyRepository
from bot.storage.quotas import QuotaRepository
from bot.storage.retention import RetentionRepository


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
    privacy: PrivacyService
    maintenance: Maintenance
    charts: ChartProcess

    async def close(self) -> None:
        """Stop what runs beside the requests: the scheduled upkeep and the chart process."""
        await self.maintenance.stop()
        await self.charts.close()


async def build_services(
    database: Database,
    runway: RunwayClient,
    *,
    join_base_url: str,
    session_max_seconds: int,
    max_live_per_guild: int,
    fetcher: SafeFetcher | None = None,
    avatar_poll_interval: float = 2.0,
    session_poll_interval: float = 1.0,
    tracker_poll_seconds: float = 5.0,
) -> Services:
    guilds = GuildSettingsRepository(database)
    state = AppStateRepository(database)
    permissions = Permissions(guilds)
    avatars = AvatarRepository(database)
    documents = DocumentRepository(database)
    voices = VoiceCatalog(runway.rules, state)
    await voices.load()
    avatar_service = AvatarService(
        avatars=avatars,
        documents=documents,
        audit=AuditRepository(database),
        permissions=permissions,
        runway=runway,
        voices=voices,
        fetcher=fetcher,
        poll_interval=avatar_poll_interval,
    )
    sessions = SessionRepository(database)
    usage = UsageRepository(database)
    tracker = SessionTracker(sessions=sessions, runway=runway, poll_seconds=tracker_poll_seconds)
    charts = ChartProcess()
    privacy = PrivacyService(
        privacy=PrivacyRepository(database), retention=RetentionRepository(database), guilds=guilds
    )
    quota_records = QuotaRepository(database)
    quotas = QuotaService(
        quotas=quota_records,
        guilds=guilds,
        defaults=default_limits(
            max_live_per_guild=max_live_per_guild,
            session_max_seconds=runway.rules.clamp_session_seconds(session_max_seconds),
        ),
    )
    return Services(
        guilds=guilds,
        state=state,
        permissions=permissions,
        avatars=avatar_service,
        knowledge=KnowledgeService(
            avatars=avatars, documents=documents, permissions=permissions, runway=runway
        ),
        sessions=SessionService(
            sessions=sessions,
            avatars=avatar_service,
            runway=runway,
            tracker=tracker,
            quotas=quotas,
            join_base_url=join_base_url,
            max_seconds=session_max_seconds,
            ready_poll=session_poll_interval,
        ),
        tracker=tracker,
        quotas=quotas,
        alerts=BudgetAlerts(quotas=quotas, repository=quota_records, usage=usage),
        usage=UsageReports(
            usage=usage,
            sessions=sessions,
            books=BooksRepository(database),
            quotas=quotas,
            runway=runway,
            charts=charts,
        ),
        privacy=privacy,
        maintenance=Maintenance(privacy=privacy, optimize=database.optimize),
        charts=charts,
    )
