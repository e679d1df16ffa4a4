"""Fetch a URL a member typed without letting them aim the bot at its own network.

A URL is a request the bot makes on a member's behalf, so it must never reach loopback,
private, link-local (cloud metadata) or other non-public addresses, including through
DNS names that resolve there or redirects that lead there. Names are resolved once by a
resolver that drops such addresses, and the connection uses exactly the addresses it
returned, so a second, different DNS answer cannot slip in (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from bot.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressFilter = Callable[[IPAddress], bool]

MAX_REDIRECTS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_PRIVATE: Final = "it points to a private or local network address"


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast only; IPv4 addresses hidden in IPv6 are unwrapped first."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class BlockedAddressError(OSError):
    """The host resolves only to addresses the bot must not contact."""


class PublicOnlyResolver(AbstractResolver):
    def __init__(self, allow: AddressFilter = is_public) -> None:
        self._inner = DefaultResolver()
        self._allow = allow

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [item for item in results if self._allow(ipaddress.ip_address(item["host"]))]
        if not allowed:
            raise BlockedAddressError(f"{host} is not a public address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


class TooLarge(InvalidInput):
    """The file is larger than the caller takes (`limit` bytes)."""

    def __init__(self, user_message: str, limit: int) -> None:
        super().__init__(user_message)
        self.limit = limit


class SafeFetcher:
    """Downloads small files from public https URLs, with caps on time and size."""

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout: float = 15.0,
        allow: AddressFilter = is_public,
        ssl_context: ssl.SSLContext | None = None,
        accept: str = "image/*",
    ) -> None:
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5.0)
        self._allow = allow
        self._ssl: ssl.SSLContext | bool = ssl_context or True
        self._accept = accept

    async def fetch(self, url: str, *, max_bytes: int | None = None) -> bytes:
        """The body of `url`, following at most a few redirects, each one checked again;
        `TooLarge` past `max_bytes` (default: the fetcher's own cap, whichever is smaller)."""
        limit = self._max_bytes if max_bytes is None else min(max_bytes, self._max_bytes)
        target = self._checked(url)
        connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(self._allow), ssl=self._ssl)
        headers = {"User-Agent": "runway-characters-discord (fetch)", "Accept": self._accept}
        async with aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, headers=headers
        ) as session:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    async with session.get(target, allow_redirects=False) as response:
                        if response.status in _REDIRECTS and "Location" in response.headers:
                            target = self._checked(
                                str(target.join(URL(response.headers["Location"])))
                            )
                            continue
                        return await self._body(response, limit)
                except TimeoutError:
                    raise _refused("the server took too long to answer") from None
                except aiohttp.ClientError as error:
                    if _blocked(error):
                        raise _refused(_PRIVATE) from None
                    raise _refused("the server could not be reached") from None
        raise _refused("it redirects too many times")

    def _checked(self, url: str) -> URL:
        try:
            target = URL(url.strip())
        except (ValueError, TypeError):
            raise _refused("it is not a valid web address") from None
        if target.scheme != "https":
            raise _refused("only https:// links are accepted")
        if not target.host or target.user or target.password:
            raise _refused("it is not a plain https:// web address")
        literal = _ip_literal(target.host)
        if literal is not None and not self._allow(literal):
            raise _refused(_PRIVATE)
        return target

    async def _body(self, response: aiohttp.ClientResponse, limit: int) -> bytes:
        if response.status != 200:
            raise _refused(f"the server answered with status {response.status}")
        declared = response.content_length
        if declared is not None and declared > limit:
            raise _too_big(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _too_big(limit)
            chunks.append(chunk)
        return b"".join(chunks)


def _blocked(error: aiohttp.ClientError) -> bool:
    """aiohttp wraps the resolver's refusal in a connector error."""
    cause = getattr(error, "os_error", None) or error.__cause__
    return isinstance(cause, BlockedAddressError)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _refused(reason: str) -> InvalidInput:
    return InvalidInput(f"The bot could not use that link: {reason}.")


def _too_big(limit: int) -> TooLarge:
    return TooLarge(
        f"The bot could not use that link: the file is larger than {limit // (1024 * 1024)} MB.",
        limit,
    )
