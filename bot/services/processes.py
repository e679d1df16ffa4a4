"""This process's identity, and which other processes are gone.

Everything a process owns (reservations, intents, shard claims) names it. It heartbeats every
`HEARTBEAT_SECONDS`; a process silent for `STALE_SECONDS`, or stopped, is dead, and
`dead_owners` is what the reconciler and the waiting line resolve leftovers by.

On PostgreSQL several live processes share the database, so heartbeats alone decide, with one
shortcut: a process that ran on this machine (same kernel and PID namespace, its `place`) and
whose pid no longer exists is dead at once, so a bot restarted after a crash resolves what its
predecessor left without waiting out the heartbeat. A pid reused by another program only
delays that to the heartbeat's verdict, never the other way round.

On SQLite (`exclusive`) exactly one process runs at a time: the file is the embedded default
for one machine and one process, and nothing else in it (admission, the tracker, the join
codes) is written to be shared. So at start-up every earlier process is dead at once and its
leftovers are resolved immediately. A second process on the same file would be treated the
same way; a cluster needs PostgreSQL (`DATABASE_URL`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Final

from bot.services.background import Background
from bot.settings import ProcessRole
from bot.storage import Clock, unix_now
from bot.storage.intents import ProcessRepository

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS: Final = 10.0
STALE_SECONDS: Final = 30


def process_place() -> str | None:
    """Where this process's pid means something: the kernel's boot id and the PID namespace.
    Two processes with the same place can check each other's pid; None where that cannot be
    told (not Linux)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{boot}/{namespace}"[:255]


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class ProcessIdentity:
    def __init__(
        self,
        processes: ProcessRepository,
        *,
        exclusive: bool = True,
        role: ProcessRole = ProcessRole.ALL,
        clock: Clock = unix_now,
    ) -> None:
        self._processes = processes
        self._exclusive = exclusive
        self.role = role
        self._place = process_place()
        self._clock = clock
        self._id: int | None = None
        self._heartbeat = Background("process-heartbeat", self._beat)

    @property
    def id(self) -> int:
        if self._id is None:
            raise RuntimeError("the process is not registered yet")
        return self._id

    @property
    def exclusive(self) -> bool:
        """Whether this process is the only one on its database (SQLite)."""
        return self._exclusive

    def now(self) -> int:
        return self._clock()

    def stale_before(self) -> int:
        """A heartbeat older than this is a dead process's."""
        return self._clock() - STALE_SECONDS

    async def register(self) -> int:
        self._id = await self._processes.register(role=self.role.value, place=self._place)
        log.info("registered as %s process %d", self.role.value, self._id)
        return self._id

    def start_heartbeat(self) -> None:
        self._heartbeat.start()

    async def stop(self) -> None:
        """Stop beating and record the stop: from here on nothing counts this process live,
        so its shard claims and anything it owned pass to the others at once."""
        await self._heartbeat.stop()
        if self._id is not None:
            await self._processes.stopped(self._id)

    async def dead_owners(self) -> list[int]:
        await self.notice_exited()
        return await self._processes.dead(
            self.id, stale_before=self.stale_before(), others_dead=self._exclusive
        )

    async def notice_exited(self) -> None:
        """Mark as stopped the processes of this machine whose pid has gone (crashed, killed)."""
        if self._exclusive or self._place is None:
            return
        others = await self._processes.live_in_place(
            self.id, self._place, stale_before=self.stale_before()
        )
        exited = [process_id for process_id, pid in others if not pid_exists(pid)]
        if exited:
            log.info("processes %s of this machine have exited", exited)
            await self._processes.gone(exited)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._processes.heartbeat(self.id)
            except Exception:  # a missed beat is retried; only a long silence means death
                log.warning("heartbeat failed", exc_info=True)
