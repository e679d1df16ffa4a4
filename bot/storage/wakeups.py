"""Wake-ups across processes: PostgreSQL's LISTEN/NOTIFY, with polling as the fallback.

NOTIFY only wakes; the tables are the truth. A unit that changes something another process
should act on soon (a call opened or reported ended, an end to announce, a lease let go)
calls `tx.notify(Channel.X)`, delivered when its transaction commits. `Wakeups` listens on a
connection of its own, outside the pool and in autocommit (`Database.dedicated_connection`),
and calls the callbacks subscribed to the channel. It probes the connection while it is
quiet and reconnects when it dies, with back-off, waking every subscriber once on each
(re)connection, since notifications sent meanwhile are lost. Every loop that subscribes also
polls on its own, so a lost notification costs one poll interval at most. On SQLite one
process runs on the file and wakes its own loops directly: nothing to listen to.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from bot.storage.database import Database
from bot.storage.sql import Engine

log = logging.getLogger(__name__)

PROBE_SECONDS: Final = 10.0
"""A quiet connection is probed this often, so a dead one is noticed and replaced."""
MAX_BACKOFF_SECONDS: Final = 10.0


class Channel(StrEnum):
    TRACKER = "runway_bot_tracker"
    """A call opened or was reported ended: the tracker's leader should look now."""
    ENDS = "runway_bot_ends"
    """A session's end waits to be announced."""
    LEASES = "runway_bot_leases"
    """A lease was let go: whoever wants it should try now."""


class Wakeups:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._subscribers: defaultdict[str, list[Callable[[], None]]] = defaultdict(list)
        self.connected = asyncio.Event()
        """Set while LISTEN is in place (tests wait on it)."""

    def subscribe(self, channel: Channel, callback: Callable[[], None]) -> None:
        self._subscribers[channel.value].append(callback)

    @property
    def needed(self) -> bool:
        """Whether there is anything to listen for: other processes, and subscribers."""
        return self._db.engine is Engine.POSTGRES and bool(self._subscribers)

    def _wake(self, channels: list[str]) -> None:
        for channel in channels:
            for callback in self._subscribers.get(channel, ()):
                callback()

    async def listen(self) -> None:
        """Listen until cancelled (the caller runs it as a background task while `needed`)."""
        attempt = 0
        while True:
            try:
                async with self._db.dedicated_connection() as conn:
                    for channel in self._subscribers:
                        await conn.execute(f"LISTEN {channel}")
                    attempt = 0
                    self.connected.set()
                    self._wake(list(self._subscribers))  # what was sent while not listening
                    while True:
                        async for note in conn.notifies(timeout=PROBE_SECONDS):
                            self._wake([note.channel])
                        await conn.execute("SELECT 1")  # quiet for a while: still alive?
            except asyncio.CancelledError:
                self.connected.clear()
                raise
            except Exception as error:  # the connection died: listen again, after a while
                self.connected.clear()
                delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt)
                attempt += 1
                log.warning("lost the wake-up connection (%s); again in %.1f s", error, delay)
                await asyncio.sleep(delay)
