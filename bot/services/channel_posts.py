"""Posts the bot could not make in a channel an admin chose, written to the audit log.

A review post or a budget alert that fails happens outside any command an admin ran, so the
audit log (`/avatar history`) is where admins find it, with the channel and what was wrong.
"""

from __future__ import annotations

from typing import Final

from bot.storage import AuditEvent, AuditRepository

POST_FAILED: Final = "channel.post_failed"


class ChannelPostProblems:
    def __init__(self, audit: AuditRepository) -> None:
        self._audit = audit

    async def record(self, guild_id: int, *, channel_id: int, what: str, problem: str) -> None:
        """Remember that the bot could not post `what` in `channel_id`, and why."""
        await self._audit.record(
            guild_id,
            AuditEvent(
                None, POST_FAILED, what, {"channel_id": str(channel_id), "problem": problem}
            ),
        )
