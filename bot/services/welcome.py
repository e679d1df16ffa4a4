"""When the bot may greet a server: once per server, ever, and only a server it just joined.

Discord announces every server again on each connection, with nothing that says "new"
except when the bot's membership began. A server is new to the bot when it joined less than
`WELCOME_WINDOW_SECONDS` ago (so a server that invited the bot while it was offline is still
greeted when it comes back), and the database then makes sure only one greeting is ever
claimed for it, across reconnects, restarts, processes, and the bot being removed and invited
again. Servers the bot has been in for long are never greeted, so an upgrade that brings this
feature to an established bot stays quiet.
"""

from __future__ import annotations

from typing import Final

from bot.storage import Clock, unix_now
from bot.storage.welcomes import WelcomeRepository

WELCOME_WINDOW_SECONDS: Final = 24 * 3600


class Welcomes:
    def __init__(self, repository: WelcomeRepository, clock: Clock = unix_now) -> None:
        self._repository = repository
        self._clock = clock

    def recently_joined(self, joined_at: int | None) -> bool:
        """Whether a server the bot joined at `joined_at` (unix seconds) is new to it."""
        return joined_at is not None and self._clock() - joined_at <= WELCOME_WINDOW_SECONDS

    async def claim(self, guild_id: int, channel_id: int, joined_at: int | None) -> bool:
        """True exactly once per server, for a server the bot recently joined: post it then."""
        if not self.recently_joined(joined_at):
            return False
        return await self._repository.claim(guild_id, channel_id)
