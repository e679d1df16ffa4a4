"""Event-loop stalls while a year's usage chart is drawn: in the chart process (what /usage does)
against on a worker thread (what it did before), in the same run.

A probe task sleeps 1 ms at a time and records how much later than that it wakes: the time the
event loop could not run (a stall). Each round draws the same chart of 366 days (the "Last 12
months" report) once each way, while the probe runs; the first chart of each way is drawn
before measuring (the process starts and loads matplotlib, the thread's process loads it). The
baseline is `usage_chart.render_png` on `asyncio.to_thread`, the same drawing code. Prints, for
each way, the probe's p50, p99 and worst lag over every round, and the time a chart took.
Goal: p99 < 20 ms while the chart is drawn in its process.

    python -m bench.chart_stall [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

from bench.common import machine, percentile
from bot.services.chart_process import ChartProcess
from bot.services.usage_chart import ChartDay, render_png

TITLE = "Last 12 months: calls in this server (Europe/Paris)"
YEAR = [
    ChartDay(date(2024, 1, 1) + timedelta(days=n), 20 + n % 17, (40 + n % 23) * 300)
    for n in range(366)
]

Draw = Callable[[], Awaitable[bytes]]


async def probed(draw: Draw) -> tuple[list[float], float]:
    """The probe's lags (seconds) while `draw` runs, and how long it ran."""
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(max(0.0, time.perf_counter() - asked - 0.001))

    running = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    began = time.perf_counter()
    await draw()
    took = time.perf_counter() - began
    done.set()
    await running
    return lags, took


async def main(rounds: int) -> None:
    charts = ChartProcess()
    ways: dict[str, Draw] = {
        "thread (before)": lambda: asyncio.to_thread(render_png, YEAR, TITLE),
        "chart process": lambda: charts.render(YEAR, TITLE),
    }
    lags: dict[str, list[float]] = {name: [] for name in ways}
    took: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for draw in ways.values():
            await draw()  # warm: the process started, matplotlib loaded on both sides
        for _ in range(rounds):
            for name, draw in ways.items():
                round_lags, seconds = await probed(draw)
                lags[name] += round_lags
                took[name].append(seconds)
    finally:
        await charts.close()
    print(
        f"chart stall: {rounds} charts of 366 days each way, a probe sleeping 1 ms at a time "
        "measures how late the event loop wakes it"
    )
    print(f"machine: {machine()}")
    for name in ways:
        values = lags[name]
        print(
            f"  {name:16} lag p50 {percentile(values, 0.5) * 1000:6.2f} ms   p99 "
            f"{percentile(values, 0.99) * 1000:6.2f} ms   worst {max(values) * 1000:6.2f} ms   "
            f"({len(values)} probes; a chart took {statistics.median(took[name]) * 1000:.0f} ms)"
        )
    print("  goal: p99 < 20 ms in the chart process")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    asyncio.run(main(options.rounds))
