"""Guild settings and app state."""

from __future__ import annotations

from bot.storage import AppStateRepository, Database, GuildSettings, GuildSettingsRepository

from .conftest import FakeClock


async def test_a_guild_without_settings_gets_the_defaults(db: Database) -> None:
    assert await GuildSettingsRepository(db).get(1) == GuildSettings(guild_id=1)


async def test_update_changes_only_the_fields_given(db: Database, clock: FakeClock) -> None:
    guilds = GuildSettingsRepository(db, clock)
    first = await guilds.update(1, manager_role_id=11, timezone="Europe/Paris")
    assert first == GuildSettings(1, manager_role_id=11, timezone="Europe/Paris")

    second = await guilds.update(1, approval_required=True, review_channel_id=22)
    assert second == GuildSettings(
        1, manager_role_id=11, approval_required=True, review_channel_id=22, timezone="Europe/Paris"
    )
    assert await guilds.get(1) == second

    cleared = await guilds.update(1, manager_role_id=None)
    assert cleared.manager_role_id is None
    assert cleared.review_channel_id == 22


async def test_guilds_are_independent(db: Database) -> None:
    guilds = GuildSettingsRepository(db)
    await guilds.update(1, alert_channel_id=5)
    assert await guilds.get(2) == GuildSettings(2)


async def test_app_state_sets_and_overwrites(db: Database) -> None:
    state = AppStateRepository(db)
    assert await state.get("commands_hash") is None
    await state.set("commands_hash", "abc")
    await state.set("commands_hash", "def")
    assert await state.get("commands_hash") == "def"
