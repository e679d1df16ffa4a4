"""Running a job in a fresh child process, a few at a time.

Decoding a large image or loading a tokenizer's vocabulary needs tens to hundreds of MB for
a second. Done in the bot's own process, the allocator keeps much of that memory afterwards
(the bot grew from 67 MB to 725 MB after one large PNG, and stayed there). A child process
gives all of it back when it exits. At most `limit` children run at once; a job that has to
wait says so through `waiting`, so the member's reply can tell them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final

from bot.errors import UserFacingError

log = logging.getLogger(__name__)

JOB_TIMEOUT_SECONDS: Final = 120.0
CHUNK_BYTES: Final = 64 * 1024


class JobFailed(RuntimeError):
    """The child died or answered nonsense; details are in the log, never shown to members."""


class WorkerPool:
    def __init__(self, limit: int = 2, *, timeout: float = JOB_TIMEOUT_SECONDS) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._timeout = timeout

    async def run(
        self,
        job: str,
        payload: bytes,
        *args: Any,
        waiting: Callable[[], Awaitable[None]] | None = None,
    ) -> Any:
        """`job(payload, *args)` in a child; its result, or the UserFacingError it raised."""
        if self._slots.locked() and waiting is not None:
            await waiting()
        async with self._slots:
            return await self._in_child(job, payload, args)

    async def _in_child(self, job: str, payload: bytes, args: tuple[Any, ...]) -> Any:
        header = pickle.dumps((job, args))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.workers.child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            async with asyncio.timeout(self._timeout):
                child.stdin.write(len(header).to_bytes(4, "big") + header)
                # In slices, each drained before the next: asyncio would otherwise copy the
                # whole payload (an image of up to 20 MB) into its write buffer.
                view = memoryview(payload)
                for start in range(0, len(view), CHUNK_BYTES):
                    child.stdin.write(view[start : start + CHUNK_BYTES])
                    await child.stdin.drain()
                child.stdin.close()
                answer = await child.stdout.read()
                code = await child.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
            raise
        if code != 0 or not answer:
            raise JobFailed(f"worker for {job!r} exited with {code}")
        kind, value = pickle.loads(answer)  # noqa: S301 - written by our own child
        if kind == "refused" and isinstance(value, UserFacingError):
            raise value
        return value
