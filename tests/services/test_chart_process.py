"""The chart process: started on the first chart, draws outside this process, survives its
worker being killed, and leaves nothing running once closed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from bot.services.chart_process import ChartProcess
from bot.services.usage_chart import ChartDay

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
YEAR = [ChartDay(date(2024, 1, 1) + timedelta(days=n), n % 7, n * 30) for n in range(366)]


@pytest.fixture
async def charts() -> AsyncIterator[ChartProcess]:
    process = ChartProcess()
    try:
        yield process
    finally:
        await process.close()


def worker_pids(charts: ChartProcess) -> list[int]:
    pool = charts._pool  # the executor keeps its workers here; nothing public lists them
    assert pool is not None
    return list(pool._processes)  # type: ignore[attr-defined]


async def test_a_year_chart_is_drawn_in_another_process_without_stalling_the_loop(
    charts: ChartProcess,
) -> None:
    assert not charts.started  # no chart asked for, no process
    await charts.render(YEAR[:7], "warm-up")  # starts the worker and loads matplotlib there
    assert charts.started
    assert os.getpid() not in worker_pids(charts)
    gaps: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    running = asyncio.create_task(probe())
    png = await charts.render(YEAR, "Last 12 months")
    stop.set()
    await running
    assert png.startswith(PNG_MAGIC)
    assert len(gaps) > 5
    assert max(gaps) < 0.5  # on a thread, matplotlib held the GIL for 110-215 ms at a time


async def test_a_killed_worker_is_replaced_by_the_next_chart(charts: ChartProcess) -> None:
    await charts.render(YEAR[:7], "first")
    for pid in worker_pids(charts):
        os.kill(pid, signal.SIGKILL)
    assert (await charts.render(YEAR[:30], "second")).startswith(PNG_MAGIC)


async def test_closing_stops_the_workers(charts: ChartProcess) -> None:
    await charts.render(YEAR[:7], "only")
    pids = worker_pids(charts)
    await charts.close()
    assert not charts.started
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
