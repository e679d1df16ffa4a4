"""The welcome claimed once per server, and avatars' pictures kept per avatar (schema 3)."""

from __future__ import annotations

from bot.storage import AvatarRepository, Database
from bot.storage.pictures import PictureRepository, PictureSource
from bot.storage.welcomes import WelcomeRepository
from tests.storage.conftest import FakeClock
from tests.storage.helpers import new_avatar

JPEG = b"\xff\xd8\xff\xe0 stand-in"


async def test_a_welcome_is_claimed_once_per_server_ever(db: Database, clock: FakeClock) -> None:
    welcomes = WelcomeRepository(db, clock)
    assert await welcomes.claim(guild_id=1, channel_id=10)
    clock.now += 86_400 * 365
    assert not await welcomes.claim(guild_id=1, channel_id=11)  # invited again, a year on
    assert await welcomes.claim(guild_id=2, channel_id=20)


async def test_a_picture_is_kept_replaced_and_read_within_its_server(
    db: Database, clock: FakeClock
) -> None:
    avatar = await AvatarRepository(db).add(new_avatar(guild_id=1))
    pictures = PictureRepository(db, clock)
    assert await pictures.get(1, avatar.id) is None

    assert await pictures.put(
        1, avatar.id, source=PictureSource.SUPPLIED, data=JPEG, content_type="image/jpeg"
    )
    clock.now += 60
    assert await pictures.put(
        1,
        avatar.id,
        source=PictureSource.PROCESSED,
        source_uri="https://cdn.example.org/p.jpg",
        data=JPEG + b"2",
        content_type="image/jpeg",
    )
    stored = await pictures.get(1, avatar.id)
    assert stored is not None
    assert (stored.source, stored.source_uri, stored.data) == (
        PictureSource.PROCESSED,
        "https://cdn.example.org/p.jpg",
        JPEG + b"2",
    )
    assert stored.updated_at == clock.now
    assert await pictures.get(2, avatar.id) is None  # another server never sees it


async def test_no_picture_without_its_avatar(db: Database) -> None:
    avatars = AvatarRepository(db)
    avatar = await avatars.add(new_avatar(guild_id=1))
    pictures = PictureRepository(db)
    kept = {"source": PictureSource.SUPPLIED, "data": JPEG, "content_type": "image/jpeg"}
    assert not await pictures.put(2, avatar.id, **kept)  # wrong server: nothing stored
    assert not await pictures.put(1, avatar.id + 1, **kept)  # no such avatar
    assert await pictures.put(1, avatar.id, **kept)

    await avatars.delete(1, avatar.id)
    assert await pictures.get(1, avatar.id) is None
    row = await db.fetch_one("SELECT count(*) FROM avatar_pictures")
    assert row is not None
    assert row[0] == 0
