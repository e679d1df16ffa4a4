"""The calls whose conversation (transcript and recording) Runway keeps, until the bot has
deleted it there.

A call enters the list when its session gets its Runway id (a trigger of migration 0006), and
leaves it only when Runway has confirmed the deletion: nothing is dropped on a failure, which
is counted, kept with its error for the admins, and retried later. The bot keeps no transcript
of its own; this list only knows which conversations it is responsible for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.storage.common import FORGOTTEN_MEMBER, Clock, SqlValue, unix_now
from bot.storage.database import Database
from bot.storage.hot import hot
from bot.storage.privacy import personal_data
from bot.storage.transaction import Row, WriteTx

ERASED: Final = "call conversations at Runway"
"""What the privacy registry calls a member's conversations queued for deletion at Runway."""
ERROR_KEPT: Final = 300
"""Characters of Runway's last refusal kept for the admins."""


@dataclass(frozen=True, slots=True)
class KeptConversation:
    runway_id: str
    guild_id: int
    member_id: int
    started_at: int
    forgotten: bool
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class RetentionRule:
    guild_id: int
    days: int


@dataclass(frozen=True, slots=True)
class FailingDeletions:
    """A server's conversations Runway would not delete yet: how many, and the last reason."""

    count: int
    most_attempts: int
    last_error: str | None


class ConversationRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def kept(self, runway_id: str) -> bool:
        """Whether Runway should still hold this conversation (the bot has not deleted it)."""
        return await self._db.fetch_one(_KEPT, {"runway_id": runway_id}) is not None

    async def rules(self) -> list[RetentionRule]:
        """Every server that has its conversations deleted at Runway after some days."""
        rows = await self._db.fetch_all(_RULES)
        return [RetentionRule(row[0], row[1]) for row in rows]

    async def due(self, rule: RetentionRule, *, limit: int) -> list[KeptConversation]:
        """The server's conversations older than its retention, oldest first, that are not
        waiting for a retry."""
        now = self._clock()
        params = {
            "guild": rule.guild_id,
            "before": now - rule.days * 86_400,
            "now": now,
            "limit": limit,
        }
        return [_kept(row) for row in await self._db.fetch_all(_DUE, params)]

    async def forgotten(self, *, limit: int, guild_id: int | None = None) -> list[KeptConversation]:
        """Conversations whose member asked to be forgotten, not waiting for a retry (of one
        server when given)."""
        params = {"now": self._clock(), "limit": limit, "guild": guild_id}
        return [_kept(row) for row in await self._db.fetch_all(_FORGOTTEN, params)]

    async def deleted(self, runway_id: str) -> None:
        """Runway confirmed it (or no longer had it): the bot is done with this call."""
        await self._db.write(lambda tx: tx.execute(_DELETED, {"runway_id": runway_id}))

    async def failed(self, runway_id: str, error: str, *, retry_after: int) -> int:
        """Runway did not delete it: count the attempt and try again after `retry_after`
        seconds; returns how many attempts have failed."""
        params: dict[str, SqlValue] = {
            "runway_id": runway_id,
            "error": error[:ERROR_KEPT],
            "retry_at": self._clock() + retry_after,
        }
        row = await self._db.write(lambda tx: tx.fetch_one(_FAILED, params))
        return 0 if row is None else int(row[0])

    async def failing(self, guild_id: int) -> FailingDeletions:
        row = await self._db.fetch_one(_FAILING, {"guild": guild_id})
        assert row is not None, "an aggregate always returns a row"
        return FailingDeletions(count=row[0], most_attempts=row[1] or 0, last_error=row[2])


_KEPT = hot(
    "calls: whether Runway still keeps a call's conversation",
    "SELECT 1 FROM conversations WHERE runway_id = :runway_id",
    reads={"conversations.pk": None},
)

_RULES = """
SELECT guild_id, conversation_days FROM guild_settings
WHERE conversation_days IS NOT NULL ORDER BY guild_id
"""

_DUE = hot(
    "conversation retention: a server's oldest conversations past its days",
    """
    SELECT * FROM conversations
    WHERE guild_id = :guild AND started_at < :before AND retry_at <= :now
    ORDER BY started_at LIMIT :limit
    """,
    reads={"conversations_by_start": "started_at<"},
)

_FORGOTTEN = hot(
    "conversation retention: conversations of forgotten members",
    """
    SELECT * FROM conversations
    WHERE forgotten = 1 AND retry_at <= :now AND guild_id = coalesce(:guild, guild_id)
    ORDER BY retry_at LIMIT :limit
    """,
    reads={"conversations_forgotten": "retry_at<"},
)

_DELETED = hot(
    "conversation retention: one deleted at Runway",
    "DELETE FROM conversations WHERE runway_id = :runway_id",
    reads={"conversations.pk": None},
)

_FAILED = hot(
    "conversation retention: a deletion Runway refused",
    """
    UPDATE conversations SET attempts = attempts + 1, last_error = :error, retry_at = :retry_at
    WHERE runway_id = :runway_id RETURNING attempts
    """,
    reads={"conversations.pk": None},
)

_FAILING = hot(
    "calls settings: a server's deletions Runway refused",
    """
    SELECT count(*), max(attempts),
           (SELECT last_error FROM conversations
            WHERE guild_id = :guild AND attempts > 0 ORDER BY retry_at DESC LIMIT 1)
    FROM conversations WHERE guild_id = :guild AND attempts > 0
    """,
    reads={"conversations_failing": None},
)


@personal_data(ERASED, "conversations.member_id")
def _forget_conversations(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """The member's calls' transcripts and recordings are to be deleted at Runway, at once;
    the rows stay (without the member) until Runway has confirmed each deletion."""
    return tx.execute(
        "UPDATE conversations SET member_id = :forgotten, forgotten = 1, retry_at = 0"
        " WHERE guild_id = :guild AND member_id = :member",
        {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER},
    )


def _kept(row: Row) -> KeptConversation:
    return KeptConversation(
        runway_id=row["runway_id"],
        guild_id=row["guild_id"],
        member_id=row["member_id"],
        started_at=row["started_at"],
        forgotten=bool(row["forgotten"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
    )
