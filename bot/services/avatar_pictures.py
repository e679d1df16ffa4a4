"""Avatars' pictures for join pages and review posts: small, re-encoded, kept in the database.

Every picture the bot hands out is one it encoded itself from checked image bytes (a square
JPEG of a few dozen KB, made in an image worker by `images.square_picture`), never a file
passed on as it came, so nothing but pixels reaches a browser or a channel. The image the
member supplied is kept when the avatar is created, so every avatar has a picture at once,
in either dialect and in sandbox mode. Once Runway reports a processed image, the bot
fetches it through the same fence as members' links (public https only, size-capped) and
keeps that instead. It is fetched when a picture is first asked for, at most once per
address per `RETRY_SECONDS` after a failure, and concurrent askers share one download.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from bot.errors import InvalidInput
from bot.net.safe_fetch import SafeFetcher
from bot.storage import Avatar
from bot.storage.pictures import PictureRepository, PictureSource
from bot.workers.pool import JobFailed, WorkerPool

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "image/jpeg"
RETRY_SECONDS: Final = 600.0
_REMEMBERED_FAILURES: Final = 1000


@dataclass(frozen=True, slots=True)
class Picture:
    data: bytes
    content_type: str = CONTENT_TYPE

    @property
    def filename(self) -> str:
        return "avatar.jpg"


def fetchable(uri: str | None) -> bool:
    """An https address that can resolve (RFC 2606 keeps `.invalid`, the sandbox's stand-in
    host, from ever resolving, so the bot does not try)."""
    if not uri:
        return False
    parts = urlsplit(uri)
    host = (parts.hostname or "").rstrip(".")
    return parts.scheme == "https" and bool(host) and not host.endswith(".invalid")


class AvatarPictures:
    def __init__(
        self,
        repository: PictureRepository,
        fetcher: SafeFetcher,
        images: WorkerPool,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repository = repository
        self._fetcher = fetcher
        self._images = images
        self._monotonic = monotonic
        self._failed: OrderedDict[str, float] = OrderedDict()
        self._downloads: dict[str, asyncio.Future[Picture | None]] = {}

    async def keep_supplied(self, guild_id: int, avatar_id: int, data: bytes) -> None:
        """Keep the picture made from the member's image until Runway's processed one."""
        await self._repository.put(
            guild_id, avatar_id, source=PictureSource.SUPPLIED, data=data, content_type=CONTENT_TYPE
        )

    async def picture(self, avatar: Avatar) -> Picture | None:
        """Runway's processed image when the bot has (or can now get) it, else the supplied one.

        None when the avatar has no picture at all (created before pictures were kept, and
        Runway's image cannot be fetched).
        """
        stored = await self._repository.get(avatar.guild_id, avatar.id)
        uri = avatar.processed_image_uri
        current = stored is not None and stored.source_uri == uri
        if uri is not None and not current and fetchable(uri):
            fresh = await self._processed(avatar, uri)
            if fresh is not None:
                return fresh
        return None if stored is None else Picture(stored.data, stored.content_type)

    async def _processed(self, avatar: Avatar, uri: str) -> Picture | None:
        failed_at = self._failed.get(uri)
        if failed_at is not None and self._monotonic() - failed_at < RETRY_SECONDS:
            return None
        download = self._downloads.get(uri)
        if download is None:
            download = asyncio.ensure_future(self._download(avatar, uri))
            self._downloads[uri] = download
            download.add_done_callback(lambda _: self._downloads.pop(uri, None))
        # Shielded: one asker giving up (a closed page) must not cancel the others' download.
        return await asyncio.shield(download)

    async def _download(self, avatar: Avatar, uri: str) -> Picture | None:
        try:
            data = await self._fetcher.fetch(uri)
            encoded: bytes = await self._images.run("picture", data)
        except (InvalidInput, JobFailed) as refusal:
            self._remember_failure(uri)
            log.info("could not use avatar %s's processed image: %s", avatar.id, refusal)
            return None
        await self._repository.put(
            avatar.guild_id,
            avatar.id,
            source=PictureSource.PROCESSED,
            source_uri=uri,
            data=encoded,
            content_type=CONTENT_TYPE,
        )
        return Picture(encoded)

    def _remember_failure(self, uri: str) -> None:
        self._failed[uri] = self._monotonic()
        self._failed.move_to_end(uri)
        while len(self._failed) > _REMEMBERED_FAILURES:
            self._failed.popitem(last=False)
