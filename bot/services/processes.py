"""This process's identity, and which other processes are gone.

Everything a process owns (reservations, intents) names it. It heartbeats every
`HEARTBEAT_SECONDS`; a process silent for `STALE_SECONDS` is dead. On SQLite exactly one
process runs at a time, so at start-up every earlier process is dead at once: its leftovers
are resolved immediately, not after a timeout. A cluster on PostgreSQL keeps the same rule
with `exclusive=False`, relying on heartbeats alone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from bot.services.background import Background
from bot.storage import Clock, unix_now
from bot.storage.intents import ProcessRepository

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS: Final = 10.0
STALE_SECONDS: Final = 30


class ProcessIdentity:
    def __init__(
        self, processes: ProcessRepository, *, exclusive: bool = True, clock: Clock = unix_now
    ) -> None:
        self._processes = processes
        self._exclusive = exclusive
        self._clock = clock
        self._id: int | None = None
        self._heartbeat = Background("process-heartbeat", self._beat)

    @property
    def id(self) -> int:
        if self._id is None:
            raise RuntimeError("the process is not registered yet")
        return self._id

    async def register(self) -> int:
        self._id = await self._processes.register()
        log.info("registered as process %d", self._id)
        return self._id

    def start_heartbeat(self) -> None:
        self._heartbeat.start()

    async def stop(self) -> None:
        await self._heartbeat.stop()
        if self._id is not None:
            await self._processes.stopped(self._id)

    async def dead_owners(self) -> list[int]:
        return await self._processes.dead(
            self.id, stale_before=self._clock() - STALE_SECONDS, others_dead=self._exclusive
        )

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._processes.heartbeat(self.id)
            except Exception:  # a missed beat is retried; only a long silence means death
                log.warning("heartbeat failed", exc_info=True)
