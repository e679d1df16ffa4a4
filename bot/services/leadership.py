"""Leadership by lease: the work only one process may do at a time (following and settling the
open sessions) goes to the process holding its lease row (`bot.storage.leases`).

Every process runs a `Lease`: the holder renews it at half its length with jitter, the others
try to take it just as often, so when the holder dies a survivor takes over within one and a
half lengths (22.5 s for the default 15 s), and at once when the holder stops cleanly and lets
it go. A database error makes a holder a follower until it can renew again: better nobody
settles for a few seconds than two processes believing they lead (settling is idempotent
anyway, so an overlap never counts twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Final

from bot.services.background import Background
from bot.storage.leases import LeaseRepository

log = logging.getLogger(__name__)

LEASE_SECONDS: Final = 15
TRACKER_LEASE: Final = "session-tracker"


class Lease:
    def __init__(
        self,
        leases: LeaseRepository,
        name: str,
        holder: Callable[[], int],
        *,
        seconds: int = LEASE_SECONDS,
    ) -> None:
        """`holder` gives this process's id once it is registered."""
        self._leases = leases
        self._name = name
        self._holder = holder
        self._seconds = seconds
        self._listeners: list[Callable[[bool], None]] = []
        self._held = False
        self._loop = Background(f"lease-{name}", self._run)
        self._poke = asyncio.Event()

    @property
    def held(self) -> bool:
        """Whether this process holds the lease (as of its last renewal)."""
        return self._held

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call `listener` with the new state each time this process takes or loses it."""
        self._listeners.append(listener)

    def start(self) -> None:
        self._loop.start()

    def poke(self) -> None:
        """Try to take the lease now (the holder let it go, say another process)."""
        self._poke.set()

    async def stop(self) -> None:
        """Stop renewing, and let the lease go so a survivor takes it over at once."""
        await self._loop.stop()
        if self._held:
            self._set(held=False)
            try:
                await self._leases.give_up(self._name, self._holder())
            except Exception:  # it expires on its own
                log.warning("could not let the %s lease go", self._name, exc_info=True)

    async def renew(self) -> bool:
        """Take or renew the lease once; whether this process holds it now."""
        try:
            held = await self._leases.take(self._name, self._holder(), self._seconds)
        except Exception:
            log.warning("could not renew the %s lease; following for now", self._name)
            held = False
        self._set(held=held)
        return held

    def _set(self, *, held: bool) -> None:
        if held != self._held:
            self._held = held
            log.info("%s the %s lease", "took" if held else "lost", self._name)
            for listener in self._listeners:
                listener(held)

    async def _run(self) -> None:
        while True:
            self._poke.clear()
            await self.renew()
            # Half the lease's length, minus up to a quarter of that: processes started
            # together drift apart, and a renewal always lands well before expiry.
            wait = self._seconds / 2 * random.uniform(0.75, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), timeout=wait)
