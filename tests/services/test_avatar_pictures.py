"""Avatars' pictures: the supplied image kept at creation, Runway's processed one fetched once.

The avatar service runs against the sandbox as everywhere in tests/services. For Runway's
processed image, the one thing stood in for is the network fetch itself (the fenced
`SafeFetcher` has its own tests over real TLS): a fetcher that answers from a table and
counts what it was asked.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from bot.errors import InvalidInput
from bot.net.safe_fetch import SafeFetcher
from bot.services.avatar_pictures import RETRY_SECONDS, AvatarPictures
from bot.services.avatars import AvatarDraft, ImageUpload
from bot.services.images import PICTURE_SIDE, check_image, square_picture
from bot.services.join_types import JoinState
from bot.storage import Avatar, AvatarRepository, Database
from bot.storage.pictures import PictureRepository
from bot.workers.pool import WorkerPool
from tests.services.conftest import ADMIN, GUILD, MEMBER, World, png
from tests.storage.helpers import new_avatar

PROCESSED = "https://cdn.runway.example/avatars/1/processed.jpg"


def image_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (600, 800)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class TableFetcher(SafeFetcher):
    """Answers from `answers` (bytes, or an exception to raise) and counts every fetch."""

    def __init__(self, answers: dict[str, bytes | Exception], delay: float = 0.0) -> None:
        super().__init__(max_bytes=1)
        self.answers = answers
        self.delay = delay
        self.asked: list[str] = []

    async def fetch(self, url: str) -> bytes:
        self.asked.append(url)
        await asyncio.sleep(self.delay)
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def avatar_with(db: Database, **fields: object) -> Avatar:
    avatars = AvatarRepository(db)
    count = await avatars.count(GUILD)
    avatar = await avatars.add(new_avatar(guild_id=GUILD, name=f"Ada {count + 1}"))
    updated = await avatars.update(GUILD, avatar.id, **fields)  # type: ignore[arg-type]
    assert updated is not None
    return updated


@pytest.fixture
async def db(database_target: str | Path):
    async with Database.open(database_target) as database:
        yield database


async def keep_supplied(pictures: AvatarPictures, avatar: Avatar, colour=(200, 30, 30)) -> None:
    await pictures.keep_supplied(GUILD, avatar.id, square_picture(check_image(image_bytes(colour))))


def colour_of(data: bytes) -> tuple[int, int, int]:
    pixel = decoded(data).convert("RGB").getpixel((10, 10))
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def near(actual: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(actual, expected, strict=True))


# --- the picture the member supplied ---------------------------------------------------


async def create(world: World, name: str = "Nova", size: int = 512) -> Avatar:
    created = await world.services.avatars.create(
        GUILD,
        ADMIN,
        AvatarDraft(name=name, personality="Kind.", voice="clara"),
        ImageUpload(data=png(size=size), url="https://cdn.example.org/n.png"),
        progress=lambda _: asyncio.sleep(0),
    )
    return created.avatar


async def test_a_new_avatar_has_its_supplied_picture_at_once(world: World) -> None:
    avatar = await create(world)
    picture = await world.services.avatars.picture(GUILD, avatar.id)
    assert picture is not None
    assert picture.content_type == "image/jpeg"
    image = decoded(picture.data)
    assert image.format == "JPEG"
    assert image.size == (PICTURE_SIDE, PICTURE_SIDE)
    assert await world.services.avatars.picture(GUILD + 1, avatar.id) is None


async def test_the_seed_dialect_keeps_the_supplied_picture_too(seed_world: World) -> None:
    avatar = await create(seed_world, size=256)
    picture = await seed_world.services.avatars.picture(GUILD, avatar.id)
    assert picture is not None
    assert decoded(picture.data).size == (256, 256)  # never enlarged


def test_the_encoding_flattens_transparency_and_crops_to_a_square() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 900), (0, 0, 0, 0)).save(buffer, "PNG")
    data = square_picture(check_image(buffer.getvalue()))
    image = decoded(data)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (300, 300))
    assert near(colour_of(data), (30, 31, 34))
    assert b"Exif" not in data[:200]


# --- the join page's view of it ------------------------------------------------------------


async def test_a_join_link_shows_its_avatars_picture_only_while_usable(world: World) -> None:
    avatar = await create(world)
    sessions = world.services.sessions
    target = await sessions.target(GUILD, str(avatar.id))
    code = (await sessions.start(GUILD, MEMBER, target)).join_url.rsplit("/", 1)[1]

    state, view = await sessions.view(code)
    assert state is JoinState.OK
    assert view is not None
    assert view.has_picture
    for _ in range(2):  # looking never uses the link
        state, picture = await sessions.picture(code)
        assert state is JoinState.OK
        assert picture is not None
        assert decoded(picture.data).format == "JPEG"

    assert (await sessions.redeem(code))[0] is JoinState.OK
    state, picture = await sessions.picture(code)  # the call runs: its page still shows it
    assert state is JoinState.IN_USE
    assert picture is not None
    await sessions.end(GUILD, MEMBER)
    assert await sessions.picture(code) == (JoinState.ENDED, None)
    assert await sessions.picture("x" * 32) == (JoinState.UNKNOWN, None)


async def test_a_preset_has_no_picture(world: World) -> None:
    sessions = world.services.sessions
    target = await sessions.target(GUILD, "preset:cooking-teacher")
    code = (await sessions.start(GUILD, MEMBER, target)).join_url.rsplit("/", 1)[1]
    _state, view = await sessions.view(code)
    assert view is not None
    assert not view.has_picture
    assert await sessions.picture(code) == (JoinState.OK, None)


# --- Runway's processed image ------------------------------------------------------------


async def test_runways_processed_image_replaces_the_supplied_one_once_fetched(db) -> None:
    fetcher = TableFetcher({PROCESSED: image_bytes((20, 160, 60))})
    pictures = AvatarPictures(PictureRepository(db), fetcher, WorkerPool())
    avatar = await avatar_with(db)
    await keep_supplied(pictures, avatar)

    first = await pictures.picture(avatar)
    assert first is not None
    assert near(colour_of(first.data), (200, 30, 30))
    assert fetcher.asked == []  # Runway has no processed image yet

    ready = await AvatarRepository(db).update(GUILD, avatar.id, processed_image_uri=PROCESSED)
    assert ready is not None
    for _ in range(3):
        shown = await pictures.picture(ready)
        assert shown is not None
        assert near(colour_of(shown.data), (20, 160, 60))
    assert fetcher.asked == [PROCESSED]  # kept: fetched once


async def test_a_newer_processed_image_is_fetched_again(db) -> None:
    newer = PROCESSED.replace("processed", "processed-2")
    fetcher = TableFetcher({PROCESSED: image_bytes((20, 160, 60)), newer: image_bytes((0, 0, 200))})
    pictures = AvatarPictures(PictureRepository(db), fetcher, WorkerPool())
    avatar = await avatar_with(db, processed_image_uri=PROCESSED)
    await pictures.picture(avatar)

    changed = await AvatarRepository(db).update(GUILD, avatar.id, processed_image_uri=newer)
    assert changed is not None
    shown = await pictures.picture(changed)
    assert shown is not None
    assert near(colour_of(shown.data), (0, 0, 200))
    assert fetcher.asked == [PROCESSED, newer]


@pytest.mark.parametrize(
    "answer",
    [
        InvalidInput("The bot could not use that link: the server could not be reached."),
        b"<html>not an image</html>",
    ],
    ids=["unreachable", "not-an-image"],
)
async def test_a_processed_image_that_fails_falls_back_and_waits_before_retrying(
    db, answer
) -> None:
    fetcher = TableFetcher({PROCESSED: answer})
    clock = Clock()
    pictures = AvatarPictures(PictureRepository(db), fetcher, WorkerPool(), monotonic=clock)
    avatar = await avatar_with(db, processed_image_uri=PROCESSED)
    await keep_supplied(pictures, avatar)

    for _ in range(3):
        shown = await pictures.picture(avatar)
        assert shown is not None
        assert near(colour_of(shown.data), (200, 30, 30))
    assert fetcher.asked == [PROCESSED]

    clock.now += RETRY_SECONDS + 1
    fetcher.answers[PROCESSED] = image_bytes((20, 160, 60))
    shown = await pictures.picture(avatar)
    assert shown is not None
    assert near(colour_of(shown.data), (20, 160, 60))
    assert fetcher.asked == [PROCESSED, PROCESSED]


async def test_an_avatar_without_any_picture_has_none(db) -> None:
    fetcher = TableFetcher({PROCESSED: InvalidInput("unreachable")})
    pictures = AvatarPictures(PictureRepository(db), fetcher, WorkerPool())
    assert await pictures.picture(await avatar_with(db)) is None
    assert await pictures.picture(await avatar_with(db, processed_image_uri=PROCESSED)) is None


async def test_the_sandbox_stand_in_address_is_never_fetched(db) -> None:
    stand_in = "https://sandbox.runway.invalid/previews/av_1/processed.jpg"
    fetcher = TableFetcher({})
    pictures = AvatarPictures(PictureRepository(db), fetcher, WorkerPool())
    avatar = await avatar_with(db, processed_image_uri=stand_in)
    await keep_supplied(pictures, avatar)
    assert await pictures.picture(avatar) is not None
    assert fetcher.asked == []


async def test_pages_opened_at_once_share_one_download(db) -> None:
    fetcher = TableFetcher({PROCESSED: image_bytes((20, 160, 60))}, delay=0.1)
    pictures = AvatarPictures(PictureRepository(db), fetcher, WorkerPool())
    avatar = await avatar_with(db, processed_image_uri=PROCESSED)

    shown = await asyncio.gather(*(pictures.picture(avatar) for _ in range(5)))

    assert all(picture is not None for picture in shown)
    assert fetcher.asked == [PROCESSED]
