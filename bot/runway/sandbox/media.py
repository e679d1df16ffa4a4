"""Where a finished video's output links lead: an https server of the sandbox's own.

Runway's output links are https, expire within a day or two and are fresh on every read of
the task; the bot downloads them through its careful fetcher, which takes https only. So the
sandbox serves its videos over TLS on loopback, with a certificate it makes at start-up
(`ca_pem` is what a client must trust), each link naming a random token that expires on the
sandbox's clock.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from aiohttp import web

from bot.runway.sandbox.clip_maker import render_clip
from bot.runway.sandbox.clock import Clock
from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.errors import SandboxError
from bot.runway.sandbox.tasks import TaskBook, TaskRecord

HOST: Final = "127.0.0.1"
CERT_NAME: Final = "sandbox.runway.invalid"


class MediaServer:
    def __init__(self, tasks: TaskBook, config: SandboxConfig, clock: Clock) -> None:
        self._tasks = tasks
        self._config = config
        self._clock = clock
        self._links: dict[str, tuple[str, datetime]] = {}
        self._base_url: str | None = None
        self._tls: tuple[bytes, bytes] | None = None
        self._lock = asyncio.Lock()

    @property
    def ca_pem(self) -> bytes:
        """The server's certificate, which is its own authority: what a client trusts."""
        if self._tls is None:
            self._tls = _self_signed()
        return self._tls[1]

    def link(self, task: TaskRecord) -> str:
        """A fresh link to the task's video, expiring `output_ttl_seconds` from now."""
        if self._base_url is None:
            raise RuntimeError("the sandbox's media server is not running")
        token = secrets.token_urlsafe(18)
        expires = self._clock() + timedelta(seconds=self._config.output_ttl_seconds)
        self._links[token] = (task.id, expires)
        return f"{self._base_url}/media/{token}.mp4"

    def clear(self) -> None:
        self._links.clear()

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[None]:
        app = web.Application()
        app.add_routes([web.get("/media/{token}.mp4", self._video, allow_head=False)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, HOST, 0, ssl_context=self._server_context())
            await site.start()
            self._base_url = f"https://{HOST}:{runner.addresses[0][1]}"
            yield
        finally:
            self._base_url = None
            await runner.cleanup()

    async def _video(self, request: web.Request) -> web.Response:
        found = self._links.get(request.match_info["token"])
        if found is None:
            raise web.HTTPNotFound(text="No such video.")
        task_id, expires = found
        if self._clock() >= expires:
            raise web.HTTPForbidden(text="This link has expired; ask for the task again.")
        try:
            task = self._tasks.task(task_id)
        except SandboxError:  # deleted since: its output went with it
            raise web.HTTPNotFound(text="No such video.") from None
        clip = await self._clip(task)
        return web.Response(body=clip, content_type="video/mp4")

    async def _clip(self, task: TaskRecord) -> bytes:
        async with self._lock:  # one rendering at a time; later requests reuse it
            if task.clip is None:
                clip = await asyncio.to_thread(
                    render_clip,
                    seconds=task.seconds,
                    image=task.image,
                    audio=task.audio,
                    seed=task.id,
                )
                task.clip = clip + _free_box(self._config.video_padding_bytes)
            return task.clip

    def _server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_bytes(self.ca_pem)
            assert self._tls is not None
            key.write_bytes(self._tls[0])
            context.load_cert_chain(cert, key)
        return context


def client_context(ca_pem: bytes) -> ssl.SSLContext:
    """A TLS context for a client that trusts only the sandbox's media server."""
    return ssl.create_default_context(cadata=ca_pem.decode("ascii"))


def _free_box(size: int) -> bytes:
    """An MP4 `free` box of about `size` bytes: valid padding every player skips."""
    if size <= 0:
        return b""
    size = max(size, 8)
    return struct.pack(">I", size) + b"free" + bytes(size - 8)


def _self_signed() -> tuple[bytes, bytes]:
    """A key and a self-signed certificate for 127.0.0.1, its own authority."""
    from cryptography import x509  # noqa: PLC0415 - sandbox mode only
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_NAME)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)
