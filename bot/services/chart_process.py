"""Charts drawn in a process of their own, so drawing never holds the event loop's GIL.

matplotlib on a worker thread still runs Python bytecode under the GIL: a year's chart stalled
the bot's event loop for 110-215 ms. Here a one-process pool, started on the first chart
(a bot nobody asks for a chart never starts it), draws with `usage_chart.render_png`; the bot
only pickles the days in and the PNG bytes out. The worker is started with `forkserver` (or
`spawn` where there is none), never `fork`: it must not inherit the bot's threads, sockets and
event loop. If the worker dies (killed, out of memory), the next chart starts a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Final

from bot.services.usage_chart import ChartDay, render_png

log = logging.getLogger(__name__)

WORKERS: Final = 1


class ChartProcess:
    """A pool of chart-drawing processes, started when first needed; `close` it at shutdown."""

    def __init__(self, *, workers: int = WORKERS) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def render(self, days: Sequence[ChartDay], title: str) -> bytes:
        """The chart as PNG bytes, drawn in the worker process."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._started()
            try:
                return await loop.run_in_executor(pool, render_png, list(days), title)
            except BrokenProcessPool:
                self._pool = None
                await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
                if attempt == 2:
                    raise
                log.warning("the chart process died; starting a new one")
        raise AssertionError("unreachable")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    @property
    def started(self) -> bool:
        return self._pool is not None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context(method)
            )
        return self._pool
