"""A video being rendered when the bot is killed: the next process posts it, exactly once.

The bot's own processes are started and killed here (this module does not use the shared
`bot` fixture). The task id was recorded before the kill, so the restarted bot follows the
task from the database, posts the finished video in its channel and settles it; the member's
reply is gone with the old process, so nothing else is sent.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from pathlib import Path

import pytest

from bot.runway.sandbox import Sandbox
from tests.e2e.avatar_steps import avatar_id, create_avatar
from tests.e2e.realbot import start_real_bot
from tests.e2e.video_steps import ended, posted, reply_until, say, video_row, video_settings
from tests.fakediscord import FakeDiscord
from tests.support.media import video_facts


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int, bot_workdir: Path) -> Mapping[str, str]:
    return video_settings(runway, bot_web_port, bot_workdir) | {
        "VIDEO_RENDER_TIMEOUT_SECONDS": "600"
    }


async def test_a_video_rendering_when_the_bot_is_killed_is_posted_once_after_the_restart(
    fake_discord: FakeDiscord,
    runway: Sandbox,
    bot_settings: Mapping[str, str],
    bot_workdir: Path,
) -> None:
    database = bot_workdir  # its database: tests.e2e.database
    first = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    try:
        guild = await fake_discord.create_guild("Crash Server", system_channel=False)
        admin = fake_discord.create_member(guild, "admin", manage_guild=True)
        await create_avatar(fake_discord, admin, "Mia")
        mia = await avatar_id(fake_discord, admin, "Mia")
        runway.config.task_render_seconds = 600
        asked = await say(fake_discord, admin, mia, text="One, two, three, four, five.")
        await reply_until(asked, lambda m: m.text.startswith("🎬"))
        row = await video_row(database, guild.id, lambda r: r["state"] == "RENDERING")
        first.process.send_signal(signal.SIGKILL)
        assert await first.process.wait() == -signal.SIGKILL
    finally:
        await first.stop()
    runway.advance(600)  # Runway finished it while the bot was down
    assert runway.inventory()["tasks"][row["runway_id"]] == "SUCCEEDED"

    second = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    try:
        settled = await video_row(database, guild.id, ended, patience=30)
        assert (settled["state"], settled["end_reason"]) == ("SETTLED", "posted")
        (message,) = await posted(fake_discord, guild.text_channel)
        assert message.id == settled["message_id"]
        assert video_facts(message.files[0].data).seconds == pytest.approx(2.0, abs=0.2)
        await asyncio.sleep(1.0)  # more sweeps: nothing is posted twice
        assert len(await posted(fake_discord, guild.text_channel, patience=0)) == 1
        assert sum(" delivered (posted)" in line for line in second.lines) == 1
    finally:
        code = await second.stop()
    assert code == 0, second.tail()
