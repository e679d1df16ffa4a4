"""How long `python -m bot.storage.copy` takes to move a deployment to PostgreSQL.

The source is the history `bench/growth.py` and the plan tests use (1,000 servers, 20,000
members, a year of calls, the rollups, intents, videos, kept conversations), at
`--sessions` calls (100,000 by default). The target is a throwaway PostgreSQL server started
here as a deployment runs it (fsync and synchronous commits on), each run into a new, empty
database (no tables: the copy migrates it first).

Baseline, measured in the same run on the same server and rows: the bare bulk load the
benchmarks and plan tests use (`tests/support/history.py`, `copy_to_postgres`): COPY of the
same tables, triggers and foreign keys off (`session_replication_role`), identities set,
ANALYZE, into an already migrated database, with no checks. What the command adds to it:
creating the schema, the snapshot and table locks, foreign keys checked as rows arrive, the
emptiness check, counting and comparing both sides before COMMIT. Then one more run of the
command as its own process gives its peak memory (`ru_maxrss`); run it with `--sessions
1000000` to see that it does not grow with the data.

    python -m bench.pg_copy [--sessions 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.common import machine, scratch_dir
from bot.storage.copy import copy_database
from tests.support.history import Shape, build, copy_to_postgres
from tests.support.postgres import PostgresServer


def timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s"
        f" (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
    )


PEAK_OF_COMMAND = """
import sys
from bot.storage.copy.__main__ import main
status = main(sys.argv[1:])
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(peak.split()[1]) // 1024, file=sys.stderr)
sys.exit(status)
"""
"""The command, then its own high-water mark of resident memory (VmHWM): the rusage of a
child would also count the memory of the process it was forked from."""


def command_peak_mib(source: Path, server: PostgresServer) -> int:
    """The command run as an operator runs it, in its own process: its peak resident memory."""
    url = server.empty_database()
    try:
        done = subprocess.run(
            [sys.executable, "-c", PEAK_OF_COMMAND, "--from", str(source), "--to", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
    finally:
        server.drop(url)
    return int(done.stderr.split()[-1])


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_copy")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = scratch_dir("pg_copy")
    source = folder / "bot.db"
    began = time.perf_counter()
    await build(source, Shape(sessions=args.sessions))
    print(f"source: {args.sessions:,} sessions built in {time.perf_counter() - began:.1f} s")
    server = PostgresServer.start(durable=True)
    ours: list[float] = []
    bare: list[float] = []
    rows = 0
    try:
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            url = server.empty_database()
            began = time.perf_counter()
            rows = copy_database(source, url, alive_within=30).figures.total_rows
            ours.append(time.perf_counter() - began)
            server.drop(url)
            url = server.fresh_database()
            bare.append(timed(partial(copy_to_postgres, source, url)))
            server.drop(url)
        peak = command_peak_mib(source, server)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(machine())
    print(f"rows copied: {rows:,} in all tables ({args.sessions:,} sessions)")
    print(f"python -m bot.storage.copy: {spread(ours)}")
    print(f"bare COPY load (baseline):  {spread(bare)}")
    ratio = [o / b for o, b in zip(ours, bare, strict=True)]
    print(f"ratio per run: {', '.join(f'{r:.2f}' for r in ratio)}")
    print(f"peak memory of the command (one more run, as its own process): {peak} MiB")


if __name__ == "__main__":
    asyncio.run(main())
