"""The gateway websocket: HELLO, heartbeats, IDENTIFY -> READY, dispatches, RESUME, shards.

Each IDENTIFY starts a session for one shard (`sharding.py` has Discord's rules); several
connections run side by side, one session each, and every dispatch goes to the sessions
of the shard its guild belongs to. A session outlives its connection, so a bot that
reconnects can RESUME and get what it missed.

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

from tests.fakediscord.sharding import MAX_GUILDS_PER_SHARD, UNSHARDED, Shard, guild_of

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, RESUME = 0, 1, 2, 3, 6
RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 7, 8, 9, 10, 11
GUILDS_INTENT = 1 << 0
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
CLOSE_AUTH_FAILED = 4004
CLOSE_DECODE_ERROR = 4002
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011
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


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    compressor: _Compressor | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: Session | None = None  # what IDENTIFY or RESUME bound to this connection

    @property
    def open(self) -> bool:
        return not self.ws.closed

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self.lock:
            if self.compressor is None:
                await self.ws.send_str(text)
            else:
                await self.ws.send_bytes(self.compressor.pack(text))


@dataclass
class Identity:
    """What the bot said in IDENTIFY (tests may check its intents and shard)."""

    token: str
    intents: int
    properties: dict[str, Any]
    raw: dict[str, Any]
    shard: Shard = UNSHARDED


@dataclass(eq=False)
class Session:
    """One gateway session: started by IDENTIFY, carried on by RESUME over a new connection.

    Its dispatches are numbered and kept, so a RESUME replays what its connection missed.
    """

    session_id: str
    identity: Identity
    connection: Connection | None
    sequence: int = 0
    _replay: deque[tuple[int, dict[str, Any]]] = field(
        default_factory=lambda: deque(maxlen=REPLAY_LIMIT)
    )

    @property
    def shard(self) -> Shard:
        return self.identity.shard

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.open

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch now, or keep it for RESUME while the bot is away."""
        self.sequence += 1
        payload = {"op": DISPATCH, "t": event, "s": self.sequence, "d": data}
        self._replay.append((self.sequence, payload))
        connection = self.connection
        if connection is not None and connection.open:
            try:
                await connection.send(payload)
            except ConnectionResetError:
                log.info("fake gateway: %s buffered for resume (connection lost)", event)

    async def replay_after(self, seq: int, connection: Connection) -> None:
        for number, payload in list(self._replay):
            if number > seq:
                await connection.send(payload)


class GatewayHooks(Protocol):
    """What the gateway needs from the rest of the fake."""

    def ready_payload(
        self, session_id: str, resume_url: str, guild_ids: list[int], shard: Shard | None
    ) -> dict[str, Any]: ...

    def guild_ids(self) -> list[int]: ...

    def guild_create(self, guild_id: int) -> dict[str, Any]: ...

    def accept_token(self, token: str) -> bool: ...

    def session_started(self) -> None: ...


class Gateway:
    """The gateway of one application: every session of every shard the bot runs."""

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
        self.sessions: dict[str, Session] = {}
        self._connections: set[Connection] = set()
        self.identity: Identity | None = None  # the latest IDENTIFY
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
        return bool(self.sessions)

    @property
    def connected(self) -> bool:
        return any(session.connected for session in self.sessions.values())

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
        self._connections.add(connection)
        try:
            await connection.send(
                {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
            )
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    if message.type is WSMsgType.BINARY:
                        await ws.close(
                            code=CLOSE_DECODE_ERROR, message=b"binary frames are not json"
                        )
                    break
                await self._on_message(connection, json.loads(message.data))
        finally:
            self._connections.discard(connection)
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
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
        if connection.session is not None:
            await connection.ws.close(
                code=CLOSE_ALREADY_AUTHENTICATED, message=b"Already authenticated."
            )
            return
        token = str(data.get("token") or "")
        if not self._hooks.accept_token(token):
            await connection.ws.close(code=CLOSE_AUTH_FAILED, message=b"Authentication failed.")
            return
        sharded = "shard" in data
        shard = Shard.from_identify(data["shard"]) if sharded else UNSHARDED
        if shard is None:
            await connection.ws.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return
        intents = int(data.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents_allowed:
            await connection.ws.close(
                code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s)."
            )
            return
        guild_ids = [g for g in self._hooks.guild_ids() if shard.receives(g)]
        if len(guild_ids) > MAX_GUILDS_PER_SHARD:
            await connection.ws.close(code=CLOSE_SHARDING_REQUIRED, message=b"Sharding required.")
            return
        self.identify_count += 1
        self._hooks.session_started()
        identity = Identity(token, intents, dict(data.get("properties") or {}), dict(data), shard)
        self.identity = identity
        self._forget_abandoned(shard)
        session = Session(secrets.token_hex(16), identity, connection)
        connection.session = session
        # Registered before READY and with no await in between, so an event for this shard
        # raised meanwhile is numbered after READY and none is lost or sent twice.
        self.sessions[session.session_id] = session
        ready = self._hooks.ready_payload(
            session.session_id, self.resume_url, guild_ids, shard if sharded else None
        )
        guilds = [self._hooks.guild_create(g) for g in guild_ids] if intents & GUILDS_INTENT else []
        await session.dispatch("READY", ready)
        for guild in guilds:
            await session.dispatch("GUILD_CREATE", guild)
        self.ready_count += 1
        self._ready_pulse.set()
        self._ready_pulse = asyncio.Event()

    def _forget_abandoned(self, shard: Shard) -> None:
        """Drop this shard's sessions whose bot went away (Discord lets them time out)."""
        for session_id, session in list(self.sessions.items()):
            if session.shard == shard and not session.connected:
                del self.sessions[session_id]

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not self._hooks.accept_token(str(data.get("token") or "")):
            await connection.send({"op": INVALID_SESSION, "d": False})
            return
        previous, session.connection = session.connection, connection
        connection.session = session
        if previous is not None and previous is not connection and previous.open:
            await previous.ws.close(code=4000, message=b"replaced by a new connection")
        self.resume_count += 1
        await session.replay_after(int(data.get("seq") or 0), connection)
        await session.dispatch("RESUMED", {})

    async def dispatch(self, event: str, data: dict[str, Any]) -> list[Shard]:
        """Send an event to the sessions of its guild's shard (kept for RESUME while a bot
        is away); returns the shards it went to, one entry per session."""
        guild_id = guild_of(event, data)
        reached: list[Shard] = []
        for session in list(self.sessions.values()):
            if session.shard.receives(guild_id):
                await session.dispatch(event, data)
                reached.append(session.shard)
        for listener in self.on_dispatch:
            listener(event, data)
        return reached

    async def request_reconnect(self) -> None:
        """Ask every connected session to reconnect and RESUME (op 7), as Discord does
        during maintenance."""
        for session in list(self.sessions.values()):
            connection = session.connection
            if connection is not None and connection.open:
                await connection.send({"op": RECONNECT, "d": None})

    async def wait_ready(self, timeout: float, *, after: int = 0) -> None:  # noqa: ASYNC109
        """Until more than `after` sessions have become ready."""
        async with asyncio.timeout(timeout):
            while self.ready_count <= after:
                await self._ready_pulse.wait()

    async def close(self) -> None:
        for connection in list(self._connections):
            if connection.open:
                await connection.ws.close(code=1001, message=b"fake discord shutting down")


AsyncCallback = Callable[[], Awaitable[None]]
