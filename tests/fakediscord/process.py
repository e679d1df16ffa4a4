"""A bot running as its own process, as it runs in production, pointed at the fake.

The bot under test is started unchanged (`python -m bot`, or the bare comparison bot)
with its settings in the environment; nothing is patched inside it. Its output is read
continuously (so a chatty bot never blocks on a full pipe) and kept for failure reports
and for waiting on log lines such as "ready".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PATTERN = r"\bready\b"


class BotProcess:
    """A running bot subprocess and everything it has printed."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        self.lines: list[str] = []
        self._new_line = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"{name}-output")

    @classmethod
    async def start(
        cls,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        name: str = "bot",
        cwd: Path = REPO_ROOT,
    ) -> BotProcess:
        """Start `python <args>` with `env` layered over this process's environment.

        The repository is put on PYTHONPATH, so `cwd` can be a scratch folder: a developer's
        `.env` and `data/` in the repository then stay out of the test.
        """
        python_path = os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
        )
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": python_path, **env}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=str(cwd),
            env=full_env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=1024 * 1024,
        )
        return cls(process, name)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def tail(self, count: int = 60) -> str:
        return "\n".join(self.lines[-count:])

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))
            self._new_line.set()
            self._new_line = asyncio.Event()
        self._new_line.set()

    async def wait_for_line(self, pattern: str = READY_PATTERN, timeout: float = 30.0) -> str:  # noqa: ASYNC109
        """The first output line matching `pattern` (case-insensitive), waiting for it."""
        regex = re.compile(pattern, re.IGNORECASE)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if regex.search(line):
                    return line
            seen = len(self.lines)
            if self.process.returncode is not None and self._reader.done():
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode} before printing "
                    f"/{pattern}/:\n{self.tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.name} did not print /{pattern}/ within {timeout} s:\n{self.tail()}"
                )
            event = self._new_line
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.5))

    async def drain(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Wait (briefly) until all output of an exited process has been read."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)

    def peak_rss_bytes(self) -> int:
        """The process's peak resident set size so far (Linux: VmHWM)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if found is None:
            raise RuntimeError("VmHWM not available on this platform")
        return int(found.group(1)) * 1024

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return 0 if found is None else int(found.group(1)) * 1024

    async def stop(self, timeout: float = 10.0) -> int:  # noqa: ASYNC109
        """SIGTERM (the bot's graceful shutdown), then SIGKILL if it hangs."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.lines.append(f"[{self.name} did not stop within {timeout} s; killed]")
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._reader, 5.0)
        return int(self.process.returncode or 0)


def bot_environment(
    discord_base_url: str,
    *,
    database_path: Path,
    web_port: int,
    dev_guild_id: int | None = None,
    log_level: str = "INFO",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The settings the real bot needs to run against the fake Discord and the sandbox."""
    env = {
        "DISCORD_TOKEN": "fake-discord-token",
        "RUNWAY_SANDBOX": "true",
        "DISCORD_API_BASE_URL": discord_base_url,
        "DATABASE_PATH": str(database_path),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(web_port),
        "LOG_LEVEL": log_level,
    }
    if dev_guild_id is not None:
        env["DEV_GUILD_ID"] = str(dev_guild_id)
    env.update(extra or {})
    return env


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
