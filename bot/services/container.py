"""Every service, built once from the database and the Runway client.

The composition root and the tests build services the same way, so a test exercises
exactly the wiring that runs in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.net.safe_fetch import SafeFetcher
from bot.runway.client import RunwayClient
from bot.services.actors import Permissions
from bot.services.avatars import AvatarService
from bot.services.knowledge import KnowledgeService
from bot.services.voices import VoiceCatalog
from bot.storage import (
    AppStateRepository,
    AuditRepository,
    AvatarRepository,
    Database,
    DocumentRepository,
    GuildSettingsRepository,
)


@dataclass(frozen=True, slots=True)
class Services:
    guilds: GuildSettingsRepository
    state: AppStateRepository
    permissions: Permissions
    avatars: AvatarService
    knowledge: KnowledgeService


async def build_services(
    database: Database,
    runway: RunwayClient,
    *,
    fetcher: SafeFetcher | None = None,
    avatar_poll_interval: float = 2.0,
) -> Services:
    guilds = GuildSettingsRepository(database)
    state = AppStateRepository(database)
    permissions = Permissions(guilds)
    avatars = AvatarRepository(database)
    documents = DocumentRepository(database)
    voices = VoiceCatalog(runway.rules, state)
    await voices.load()
    return Services(
        guilds=guilds,
        state=state,
        permissions=permissions,
        avatars=AvatarService(
            avatars=avatars,
            documents=documents,
            audit=AuditRepository(database),
            permissions=permissions,
            runway=runway,
            voices=voices,
            fetcher=fetcher,
            poll_interval=avatar_poll_interval,
        ),
        knowledge=KnowledgeService(
            avatars=avatars, documents=documents, permissions=permissions, runway=runway
        ),
    )
