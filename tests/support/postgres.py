"""A throwaway PostgreSQL server for the tests and benchmarks: Debian's binaries, a temporary
directory, loopback only, durability off (fsync, synchronous commit, full-page writes), since
nothing in it must survive a crash.

One server per test process (each pytest-xdist worker starts its own, on its own port and
directory). The schema is migrated once into a template database; every test gets a fresh
copy (`CREATE DATABASE ... TEMPLATE`, a file copy: milliseconds), dropped afterwards. As root
the server refuses to run, so then it runs as the `postgres` user (`runuser`).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bot.storage.migrations import bundled
from bot.storage.postgres.engine import describe
from bot.storage.postgres.migrate import migrate
from bot.storage.sql import Engine
from tests.fakediscord import free_port

SERVICE_USER = "postgres"
TEMPLATE = "bot_template"


def binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`: on the PATH, or where Debian puts them."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def missing_reason() -> str | None:
    """Why PostgreSQL cannot run here, or None when it can."""
    if binaries() is None:
        return (
            "PostgreSQL's initdb and pg_ctl were not found (install Debian's postgresql-15; "
            ".ci/run does): the PostgreSQL half of the suite is skipped"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: the PostgreSQL server cannot be started"
    return None


@dataclass
class PostgresServer:
    """A running server; `url(name)` reaches database `name` on it."""

    directory: Path
    port: int
    bin: Path
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresServer:
        """Initialise and start a server; `durable` keeps fsync and synchronous commits on
        (for benchmarks, where what a commit costs is part of the figure)."""
        folder = binaries()
        assert folder is not None, missing_reason()
        directory = Path(tempfile.mkdtemp(prefix="bot-pg-"))
        directory.chmod(0o755)
        server = cls(directory, free_port(), folder)
        if os.geteuid() == 0:
            shutil.chown(directory, SERVICE_USER, SERVICE_USER)
        server._run(
            "initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust",
            "--no-locale", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        settings = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {directory}"
            " -c max_connections=200 -c shared_buffers=128MB"
        )
        if not durable:
            settings += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        server._run(
            "pg_ctl", "-D", str(server.data), "-l", str(directory / "server.log"),
            "-o", settings, "-w", "-t", "60", "start",
        )  # fmt: skip
        atexit.register(server.stop)  # even if the test process ends without its teardown
        server._create_template()
        return server

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """A new database holding the migrated schema and nothing else."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
        return self.url(name)

    def empty_database(self) -> str:
        """A new database without the bot's schema (for migration tests)."""
        name = f"empty_{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.encode())

    def stop(self) -> None:
        if not self.directory.exists():
            return  # stopped already
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _create_template(self) -> None:
        self.admin(f"CREATE DATABASE {TEMPLATE}")
        url = self.url(TEMPLATE)
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, bundled(Engine.POSTGRES), describe(url))

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        began = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed after {time.monotonic() - began:.1f} s "
                f"({result.returncode}):\n{result.stdout}\n{result.stderr}\n{self.log()[-2000:]}"
            )
