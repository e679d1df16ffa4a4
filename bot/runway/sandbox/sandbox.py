"""The sandbox itself: the emulated account, its HTTP server, and the control surface."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

from aiohttp import web
from aiohttp.log import access_logger

from bot.runway import catalog
from bot.runway.sandbox.clock import Clock
from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.conversations import Recordings
from bot.runway.sandbox.faults import Fault, Faults, JsonBody
from bot.runway.sandbox.gate import Gate
from bot.runway.sandbox.library import Library
from bot.runway.sandbox.media import MediaServer
from bot.runway.sandbox.records import SERVER_FAILURE
from bot.runway.sandbox.routes_control import ControlApi
from bot.runway.sandbox.routes_production import ProductionApi
from bot.runway.sandbox.routes_seed import SeedApi
from bot.runway.sandbox.sessions import SessionBook
from bot.runway.sandbox.tasks import SERVER_TASK_FAILURE, TaskBook, TaskFailure, TaskRecord
from bot.runway.sandbox.traffic import Traffic
from bot.settings import Dialect

# An audio data: URI may be 16 MB of text on its own; leave room for the rest of the JSON.
_MAX_BODY = catalog.AUDIO_DATA_URI_MAX + 1024 * 1024


class Sandbox:
    """An in-memory emulator of Runway's Characters API in one dialect.

    Used by tests in-process and by the bot with `RUNWAY_SANDBOX=true`, so admins can try
    every command without spending credits. State lives only in memory; nothing is real.
    """

    def __init__(
        self,
        dialect: Dialect | str = Dialect.PRODUCTION,
        api_key: str = "sandbox",
        config: SandboxConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.dialect = Dialect(dialect)
        self.api_key = api_key
        self.config = config or SandboxConfig()
        self.clock = clock or Clock()
        self._library = Library(self.config, self.clock)
        self._sessions = SessionBook(self.config, self.clock)
        self._tasks = TaskBook(self.config, self.clock)
        self._media = MediaServer(self._tasks, self.config, self.clock)
        self._faults = Faults()
        self._traffic = Traffic()
        self.recordings = Recordings(self.config.recording_ttl_seconds)
        api: ProductionApi | SeedApi = (
            ProductionApi(
                self._library,
                self._sessions,
                self.config,
                self.clock,
                self.recordings,
                tasks=self._tasks,
                media=self._media,
            )
            if self.dialect is Dialect.PRODUCTION
            else SeedApi(self._library, self._sessions, self.config)
        )
        api_routes = api.routes()
        self._known_routes = {(route.method, route.path) for route in api_routes}
        self._routes = [*api_routes, *ControlApi(self).routes()]
        self._gate = Gate(
            self.dialect,
            api_key,
            self._faults,
            self._traffic,
            key_routes=api.session_key_routes,
            public_routes=api.public_routes,
        )
        self._base_url: str | None = None

    @property
    def media_ca_pem(self) -> bytes:
        """The certificate a client must trust to download the videos (output links)."""
        return self._media.ca_pem

    @property
    def base_url(self) -> str:
        """Where the running sandbox answers, e.g. `http://127.0.0.1:54321`."""
        if self._base_url is None:
            raise RuntimeError("the sandbox is not serving; use `async with sandbox.serve()`")
        return self._base_url

    @asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False
    ) -> AsyncIterator[Self]:
        """Answer HTTP on host:port (0: any free port) for the duration of the block.

        Handlers are cancelled when their client disconnects, so a request abandoned
        during injected latency before the handler never creates anything later.
        """
        if self._base_url is not None:
            raise RuntimeError("the sandbox is already serving")
        app = web.Application(middlewares=[self._gate.middleware()], client_max_size=_MAX_BODY)
        app.add_routes(self._routes)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=access_logger if access_log else None
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            self._base_url = f"http://{_url_host(host)}:{bound_port}"
            if self.dialect is Dialect.PRODUCTION:
                async with self._media.serve():
                    yield self
            else:
                yield self
        finally:
            self._base_url = None
            await runner.cleanup()

    def inject(
        self,
        method: str,
        route: str,
        *,
        status: int | None = None,
        times: int | None = 1,
        retry_after: int | None = None,
        latency: float = 0.0,
        drop: bool = False,
        body: JsonBody | None = None,
        before_handler: bool = True,
    ) -> None:
        """Make the next `times` requests to `route` (a template such as
        `/v1/avatars/{id}`) misbehave; `times=None` for every request until `reset`.

        `status` (and/or `body`) replaces the answer, with `Retry-After` when `retry_after`
        is set; `latency` delays it; `drop` closes the connection without an answer. With
        `before_handler=False` the real handler runs first, so the request took effect.
        """
        if (method.upper(), route) not in self._known_routes:
            raise ValueError(
                f"{method.upper()} {route} is not a route of the {self.dialect} sandbox"
            )
        self._faults.add(
            Fault(
                method=method,
                route=route,
                status=status,
                remaining=times,
                retry_after=retry_after,
                latency=latency,
                drop=drop,
                body=body,
                before_handler=before_handler,
            )
        )

    def clear_faults(self) -> None:
        """Forget every injected fault (Runway is well again); everything else stays."""
        self._faults.clear()

    def requests(self, method: str, route: str) -> int:
        """How many requests reached `route`, faulted ones included."""
        return self._traffic.requests(method, route)

    def handled(self, method: str, route: str) -> int:
        """How many requests to `route` the real handler answered with success."""
        return self._traffic.handled(method, route)

    def traffic(self) -> dict[str, dict[str, int]]:
        return self._traffic.snapshot()

    def end_session(self, session_id: str, after_seconds: float | None = None) -> None:
        """The member hangs up a RUNNING call now: COMPLETED, with `duration` the time since
        it began, or `after_seconds` when given (capped at the session's maximum).

        Raises SandboxError 404 for an unknown session, 409 when it is not RUNNING.
        """
        self._sessions.end(session_id, after_seconds)

    def fail_session(
        self,
        session_id: str,
        failure: str = SERVER_FAILURE.failure,
        code: str = SERVER_FAILURE.code,
    ) -> None:
        """Fail a live session (not ready, ready or running); 409 once it has finished."""
        self._sessions.fail(session_id, failure, code)

    def fail_task(self, task_id: str, failure: TaskFailure = SERVER_TASK_FAILURE) -> None:
        """Fail an avatar video task in progress now; 409 once it has finished."""
        self._tasks.fail(task_id, failure)

    def tasks(self) -> list[TaskRecord]:
        """Every avatar video task, for tests that compare Runway's side with the bot's."""
        return self._tasks.records()

    def script_conversation(self, session_id: str, entries: list[tuple[str, str]]) -> None:
        """Make the call's transcript say `entries` (role `user` or `assistant`, content),
        whole, instead of the default script. Raises SandboxError 404 for an unknown or
        deleted conversation."""
        self._sessions.script(session_id, entries)

    @property
    def peak_live_sessions(self) -> int:
        """The most sessions that were live at Runway at once since the last `reset`: what a
        test of an account-wide limit compares with it (Runway's own count, not the bot's)."""
        return self._sessions.peak_live

    def inventory(self) -> dict[str, dict[str, str]]:
        """Every object the emulated account holds, by kind: id -> status (documents:
        their name), whatever the dialect lets a client see. For tests that compare
        Runway's side with a bot's records."""
        now = self.clock()
        return {
            "avatars": {a.id: str(a.status(now)) for a in self._library.avatar_records()},
            "documents": {d.id: d.name for d in self._library.document_records()},
            "sessions": {s.id: str(s.state(now).status) for s in self._sessions.records()},
            "tasks": {t.id: str(t.status(now)) for t in self._tasks.records() if not t.deleted},
            "conversations": {
                s.id: str(s.state(now).status)
                for s in self._sessions.records()
                if not s.conversation_deleted
            },
        }

    def advance(self, seconds: float) -> None:
        """Move the sandbox's time forward, instead of waiting for it."""
        self.clock.advance(seconds)

    def reset(self) -> None:
        """Forget every avatar, document, session, fault and count; time keeps its offset."""
        self._library.clear()
        self._sessions.clear()
        self._tasks.clear()
        self._media.clear()
        self._faults.clear()
        self._traffic.clear()


def _url_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
