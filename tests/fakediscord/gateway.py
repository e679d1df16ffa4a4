"""The gateway websocket: HELLO, heartbeats, IDENTIFY -> READY, dispatches, RESUME.

discord.py connects with `?v=10&encoding=json&compress=zlib-stream` (or `zstd-stream`
when a zstd module is installed), so the fake speaks those transport compressions the
way Discord does: one compression context per connection, each payload ending in a
sync flush. It also refuses privileged intents the application has not been granted
(close code 4014), as Discord does, so a bot that asks for them cannot pass a test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, RESUME = 0, 1, 2, 3, 6
RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 7, 8, 9, 10, 11
GUILDS_INTENT = 1 << 0
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
CLOSE_AUTH_FAILED = 4004
CLOSE_DECODE_ERROR = 4002
CLOSE_DISALLOWED_INTENTS = 4014
REPLAY_LIMIT = 20_000


class _Compressor(Protocol):
    def pack(self, text: str) -> bytes: ...


class _Zlib:
    def __init__(self) -> None:
        self._context = zlib.compressobj()

    def pack(self, text: str) -> bytes:
        return self._context.compress(text.encode()) + self._context.flush(zlib.Z_SYNC_FLUSH)


class _Zstd:
    """Used only when discord.py finds a zstd module and asks for `zstd-stream`."""

    def __init__(self) -> None:
        import zstandard  # type: ignore[import-not-found]  # noqa: PLC0415

        self._flush_block: int = zstandard.COMPRESSOBJ_FLUSH_BLOCK
        self._context: Any = zstandard.ZstdCompressor().compressobj()

    def pack(self, text: str) -> bytes:
        packed = self._context.compress(text.encode()) + self._context.flush(self._flush_block)
        return bytes(packed)


@dataclass
class Connection:
    ws: web.WebSocketResponse
    compressor: _Compressor | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self.lock:
            if self.compressor is None:
                await self.ws.send_str(text)
            else:
                await self.ws.send_bytes(self.compressor.pack(text))


@dataclass
class Identity:
    """What the bot said in IDENTIFY (tests may check its intents)."""

    token: str
    intents: int
    properties: dict[str, Any]
    raw: dict[str, Any]


class GatewayHooks(Protocol):
    """What the gateway needs from the rest of the fake."""

    def ready_payload(self, session_id: str, resume_url: str) -> dict[str, Any]: ...

    def guild_creates(self) -> list[dict[str, Any]]: ...

    def accept_token(self, token: str) -> bool: ...


class Gateway:
    """One bot's gateway session (Discord allows the fake's single shard one at a time)."""

    def __init__(
        self,
        hooks: GatewayHooks,
        *,
        heartbeat_interval_ms: int = 41_250,
        privileged_intents_allowed: int = 0,
    ) -> None:
        self._hooks = hooks
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents_allowed = privileged_intents_allowed
        self.connection: Connection | None = None
        self.session_id: str | None = None
        self.identity: Identity | None = None
        self.sequence = 0
        self._replay: deque[tuple[int, dict[str, Any]]] = deque(maxlen=REPLAY_LIMIT)
        self.ready = asyncio.Event()  # READY and every GUILD_CREATE sent on this session
        self.identify_count = 0
        self.ready_count = 0  # sessions that got READY and all their GUILD_CREATEs
        self._ready_pulse = asyncio.Event()
        self.resume_count = 0
        self.heartbeats = 0
        self.on_dispatch: list[Callable[[str, dict[str, Any]], None]] = []
        self.resume_url = ""

    @property
    def has_session(self) -> bool:
        """A bot has identified; events for it are sent now or replayed on RESUME."""
        return self.session_id is not None and self.ready.is_set()

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.ws.closed

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The websocket endpoint at /gateway."""
        encoding = request.query.get("encoding", "json")
        compress = request.query.get("compress")
        ws = web.WebSocketResponse(max_msg_size=0, compress=False, autoping=True)
        await ws.prepare(request)
        if encoding != "json":
            await ws.close(code=CLOSE_DECODE_ERROR, message=b"only json encoding is emulated")
            return ws
        compressor: _Compressor | None = None
        if compress == "zlib-stream":
            compressor = _Zlib()
        elif compress == "zstd-stream":
            compressor = _Zstd()
        connection = Connection(ws=ws, compressor=compressor)
        previous, self.connection = self.connection, connection
        if previous is not None and not previous.ws.closed:
            await previous.ws.close(code=4000, message=b"replaced by a new connection")
        await connection.send(
            {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
        )
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                if message.type is WSMsgType.BINARY:
                    await ws.close(code=CLOSE_DECODE_ERROR, message=b"binary frames are not json")
                break
            await self._on_message(connection, json.loads(message.data))
        if self.connection is connection:
            self.connection = None
        return ws

    async def _on_message(self, connection: Connection, message: dict[str, Any]) -> None:
        op, data = message.get("op"), message.get("d")
        if op == HEARTBEAT:
            self.heartbeats += 1
            await connection.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            await self._identify(connection, data or {})
        elif op == RESUME:
            await self._resume(connection, data or {})
        elif op in (PRESENCE, REQUEST_MEMBERS, 4):
            return
        else:
            log.warning("fake gateway: unexpected op %s", op)

    async def _identify(self, connection: Connection, data: dict[str, Any]) -> None:
        token = str(data.get("token") or "")
        if not self._hooks.accept_token(token):
            await connection.ws.close(code=CLOSE_AUTH_FAILED, message=b"Authentication failed.")
            return
        intents = int(data.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents_allowed:
            await connection.ws.close(
                code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s)."
            )
            return
        self.identify_count += 1
        self.identity = Identity(token, intents, dict(data.get("properties") or {}), dict(data))
        self.ready.clear()
        self.session_id = secrets.token_hex(16)
        self.sequence = 0
        self._replay.clear()
        await self.dispatch("READY", self._hooks.ready_payload(self.session_id, self.resume_url))
        if intents & GUILDS_INTENT:
            for guild in self._hooks.guild_creates():
                await self.dispatch("GUILD_CREATE", guild)
        self.ready_count += 1
        self.ready.set()
        self._ready_pulse.set()
        self._ready_pulse = asyncio.Event()

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> None:
        if data.get("session_id") != self.session_id or not self._hooks.accept_token(
            str(data.get("token") or "")
        ):
            await connection.send({"op": INVALID_SESSION, "d": False})
            return
        self.resume_count += 1
        seq = int(data.get("seq") or 0)
        for number, payload in list(self._replay):
            if number > seq:
                await connection.send(payload)
        await self.dispatch("RESUMED", {})

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send a dispatch (buffered for RESUME when the bot is away); returns its sequence."""
        self.sequence += 1
        payload = {"op": DISPATCH, "t": event, "s": self.sequence, "d": data}
        self._replay.append((self.sequence, payload))
        for listener in self.on_dispatch:
            listener(event, data)
        connection = self.connection
        if connection is not None and not connection.ws.closed:
            try:
                await connection.send(payload)
            except ConnectionResetError:
                log.info("fake gateway: %s buffered for resume (connection lost)", event)
        return self.sequence

    async def request_reconnect(self) -> None:
        """Ask the bot to reconnect and RESUME (op 7), as Discord does during maintenance."""
        if self.connection is not None:
            await self.connection.send({"op": RECONNECT, "d": None})

    async def wait_ready(self, timeout: float, *, after: int = 0) -> None:  # noqa: ASYNC109
        """Until more than `after` sessions have become ready."""
        async with asyncio.timeout(timeout):
            while self.ready_count <= after:
                await self._ready_pulse.wait()

    async def close(self) -> None:
        if self.connection is not None and not self.connection.ws.closed:
            await self.connection.ws.close(code=1001, message=b"fake discord shutting down")


AsyncCallback = Callable[[], Awaitable[None]]
