"""A minimal gateway and REST client, for testing the fake's protocol without discord.py.

It speaks exactly what a client sends (zlib-stream transport compression included), so
the self-tests can provoke what a well-behaved library never does: a second
acknowledgement, a late one, a stale token, privileged intents.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import aiohttp

from tests.fakediscord import FakeDiscord

SYNC_FLUSH = b"\x00\x00\xff\xff"


class RawGateway:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._inflate = zlib.decompressobj()
        self._buffer = bytearray()
        self.sequence: int | None = None

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        while True:
            message = await self.ws.receive(timeout=timeout)
            if message.type is aiohttp.WSMsgType.TEXT:
                payload: dict[str, Any] = json.loads(message.data)
            elif message.type is aiohttp.WSMsgType.BINARY:
                self._buffer.extend(message.data)
                if not message.data.endswith(SYNC_FLUSH):
                    continue
                payload = json.loads(self._inflate.decompress(bytes(self._buffer)))
                self._buffer.clear()
            else:
                return {"closed": message.type.name, "code": self.ws.close_code}
            if payload.get("s") is not None:
                self.sequence = payload["s"]
            return payload

    async def until(self, event: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        while True:
            payload = await self.receive(timeout)
            if payload.get("t") == event or "closed" in payload:
                return payload

    async def send(self, op: int, data: Any) -> None:
        await self.ws.send_str(json.dumps({"op": op, "d": data}))

    async def identify(
        self, intents: int = 1, token: str = "raw-token", shard: Any = None
    ) -> dict[str, Any]:
        """READY, or the close (`{"closed": ..., "code": ...}`) that refused the IDENTIFY.

        `shard` is sent as the IDENTIFY's `shard` field when given (anything, to test refusals).
        """
        data: dict[str, Any] = {"token": token, "intents": intents, "properties": {"os": "linux"}}
        if shard is not None:
            data["shard"] = shard
        await self.send(2, data)
        return await self.until("READY")


async def connect(
    session: aiohttp.ClientSession, fake: FakeDiscord, compress: bool = True
) -> RawGateway:
    url = fake.base_url.replace("http", "ws") + "/gateway?v=10&encoding=json"
    if compress:
        url += "&compress=zlib-stream"
    gateway = RawGateway(await session.ws_connect(url))
    hello = await gateway.receive()
    assert hello["op"] == 10
    return gateway


def api(fake: FakeDiscord, path: str) -> str:
    return f"{fake.base_url}/api/v10{path}"


BOT_AUTH = {"Authorization": "Bot raw-token"}
PING = {"name": "ping", "description": "Ping", "type": 1}


async def register_ping(session: aiohttp.ClientSession, fake: FakeDiscord) -> None:
    """Sync /ping globally, so tests can send interactions."""
    url = api(fake, f"/applications/{fake.application_id}/commands")
    async with session.put(url, json=[PING], headers=BOT_AUTH) as response:
        assert response.status == 200
