"""A typed URL can reach only public https servers, directly or through redirects."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import trustme
from aiohttp import web

from bot.errors import InvalidInput
from bot.net.safe_fetch import SafeFetcher, is_public

LIMIT = 64 * 1024


@dataclass
class TlsServer:
    port: int
    ssl_context: ssl.SSLContext

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"


@pytest.fixture
async def tls_server() -> AsyncIterator[TlsServer]:
    """An https server on loopback with a throw-away CA the fetcher is told to trust."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "127.0.0.2", "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG fake image bytes", content_type="image/png")

    async def huge(_: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(_)
        for _chunk in range(10):
            await response.write(b"x" * 16 * 1024)
        return response

    async def redirect_to(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def missing(_: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/image.png", image)
    app.router.add_get("/huge", huge)
    app.router.add_get("/redirect", redirect_to)
    app.router.add_get("/missing", missing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield TlsServer(port=port, ssl_context=client_context)
    finally:
        await runner.cleanup()


def only(*addresses: str):
    allowed = {ipaddress.ip_address(address) for address in addresses}
    return lambda address: address in allowed


async def test_public_rules() -> None:
    assert is_public(ipaddress.ip_address("93.184.216.34"))
    for address in (
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "224.0.0.1",
    ):  # fmt: skip
        assert not is_public(ipaddress.ip_address(address)), address


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://images.example.org/a.png", "only https://"),
        ("ftp://images.example.org/a.png", "only https://"),
        ("javascript:alert(1)", "only https://"),
        ("https://127.0.0.1/a.png", "private or local"),
        ("https://[::1]/a.png", "private or local"),
        ("https://169.254.169.254/latest/meta-data", "private or local"),
        ("https://10.0.0.8/a.png", "private or local"),
        ("https://[::ffff:127.0.0.1]/a.png", "private or local"),
        ("https://localhost/a.png", "private or local"),
        ("https://user:pw@images.example.org/a.png", "plain https://"),
        ("not a url at all", "https://"),
    ],
)
async def test_refused_before_any_connection(url: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await SafeFetcher(max_bytes=LIMIT).fetch(url)
    assert words in caught.value.user_message


async def test_fetches_from_an_allowed_server(tls_server: TlsServer) -> None:
    fetcher = SafeFetcher(
        max_bytes=LIMIT, allow=only("127.0.0.1"), ssl_context=tls_server.ssl_context
    )
    assert await fetcher.fetch(tls_server.url("/image.png")) == b"\x89PNG fake image bytes"


async def test_redirect_to_a_forbidden_address_is_refused(tls_server: TlsServer) -> None:
    fetcher = SafeFetcher(
        max_bytes=LIMIT, allow=only("127.0.0.1"), ssl_context=tls_server.ssl_context
    )
    inner = tls_server.url("/image.png", host="127.0.0.2")
    with pytest.raises(InvalidInput) as caught:
        await fetcher.fetch(tls_server.url(f"/redirect?to={inner}"))
    assert "private or local" in caught.value.user_message


async def test_redirect_to_plain_http_is_refused(tls_server: TlsServer) -> None:
    fetcher = SafeFetcher(
        max_bytes=LIMIT, allow=only("127.0.0.1"), ssl_context=tls_server.ssl_context
    )
    with pytest.raises(InvalidInput) as caught:
        await fetcher.fetch(tls_server.url("/redirect?to=http://127.0.0.1/image.png"))
    assert "only https://" in caught.value.user_message


async def test_name_resolving_to_a_forbidden_address_is_refused(tls_server: TlsServer) -> None:
    fetcher = SafeFetcher(
        max_bytes=LIMIT, allow=only("203.0.113.9"), ssl_context=tls_server.ssl_context
    )
    with pytest.raises(InvalidInput) as caught:
        await fetcher.fetch(tls_server.url("/image.png", host="localhost"))
    assert "private or local" in caught.value.user_message


async def test_size_cap_applies_while_streaming(tls_server: TlsServer) -> None:
    fetcher = SafeFetcher(
        max_bytes=LIMIT, allow=only("127.0.0.1"), ssl_context=tls_server.ssl_context
    )
    with pytest.raises(InvalidInput) as caught:
        await fetcher.fetch(tls_server.url("/huge"))
    assert "larger than" in caught.value.user_message


async def test_error_status_is_reported(tls_server: TlsServer) -> None:
    fetcher = SafeFetcher(
        max_bytes=LIMIT, allow=only("127.0.0.1"), ssl_context=tls_server.ssl_context
    )
    with pytest.raises(InvalidInput) as caught:
        await fetcher.fetch(tls_server.url("/missing"))
    assert "status 404" in caught.value.user_message
