"""Storage on SQLite (the default) or PostgreSQL: the engines, migrations and one repository
per aggregate.

All SQL of the bot lives in this package; callers get frozen dataclasses, never rows. How to
add a query, give it a PostgreSQL variant or add a migration on both engines: README.md here.
"""

from bot.storage.admission import (
    AdmissionPolicy,
    LiveLimits,
    Period,
    PeriodUsage,
    UsageQuery,
    UsageSnapshot,
)
from bot.storage.audit import AuditEntry, AuditEvent, AuditRepository
from bot.storage.avatars import (
    Avatar,
    AvatarRepository,
    AvatarStatus,
    NewAvatar,
    ReviewState,
    name_key,
)
from bot.storage.common import UNSET, Clock, JsonValue, Unset, row_id, unix_now
from bot.storage.database import Database
from bot.storage.documents import Document, DocumentRepository, DocumentState, NewDocument
from bot.storage.errors import (
    DuplicateNameError,
    LimitReached,
    MigrationError,
    NotFoundError,
    SchemaTooNewError,
    StorageError,
    TokenBudgetExceededError,
)
from bot.storage.guilds import AppStateRepository, GuildSettings, GuildSettingsRepository
from bot.storage.sessions import EndReason, NewSession, Session, SessionRepository, SessionState
from bot.storage.usage import LabelUsage, MemberUsage, UsageBucket, UsageRepository, UsageTotals

__all__ = [
    "UNSET",
    "AdmissionPolicy",
    "AppStateRepository",
    "AuditEntry",
    "AuditEvent",
    "AuditRepository",
    "Avatar",
    "AvatarRepository",
    "AvatarStatus",
    "Clock",
    "Database",
    "Document",
    "DocumentRepository",
    "DocumentState",
    "DuplicateNameError",
    "EndReason",
    "GuildSettings",
    "GuildSettingsRepository",
    "JsonValue",
    "LabelUsage",
    "LimitReached",
    "LiveLimits",
    "MemberUsage",
    "MigrationError",
    "NewAvatar",
    "NewDocument",
    "NewSession",
    "NotFoundError",
    "Period",
    "PeriodUsage",
    "ReviewState",
    "SchemaTooNewError",
    "Session",
    "SessionRepository",
    "SessionState",
    "StorageError",
    "TokenBudgetExceededError",
    "Unset",
    "UsageBucket",
    "UsageQuery",
    "UsageRepository",
    "UsageSnapshot",
    "UsageTotals",
    "name_key",
    "row_id",
    "unix_now",
]
