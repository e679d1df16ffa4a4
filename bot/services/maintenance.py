"""Scheduled upkeep: each server's retention, what forgetting kept for the limits once they
reset, and fresh statistics for the query planner.

Runs once a little after start-up and then every `interval` seconds. Each job's failure is
logged and retried at the next run; nothing here may stop the bot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from bot.services.background import Background
from bot.services.privacy import PrivacyService

log = logging.getLogger(__name__)

INTERVAL_SECONDS: Final = 3_600.0
FIRST_RUN_SECONDS: Final = 60.0


class Maintenance:
    def __init__(
        self,
        *,
        privacy: PrivacyService,
        optimize: Callable[[], Awaitable[None]],
        interval: float = INTERVAL_SECONDS,
        first_run: float = FIRST_RUN_SECONDS,
    ) -> None:
        self._privacy = privacy
        self._optimize = optimize
        self._interval = interval
        self._first_run = first_run
        self._loop = Background("maintenance", self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_once(self) -> None:
        try:
            deleted = await self._privacy.apply_retention()
            if deleted:
                log.info(
                    "retention: %d old sessions, videos and history entries deleted "
                    "(their totals stay)",
                    deleted,
                )
        except Exception:
            log.exception("retention failed; retrying at the next run")
        try:
            expired = await self._privacy.expire_held()
            if expired:
                log.info("forgotten members: %d kept usages deleted, their limits reset", expired)
        except Exception:
            log.exception("deleting forgotten members' kept usage failed; retrying next run")
        try:
            await self._optimize()
        except Exception:
            log.exception("refreshing the planner's statistics failed")

    async def _run(self) -> None:
        await asyncio.sleep(self._first_run)
        while True:
            await self.run_once()
            await asyncio.sleep(self._interval)
