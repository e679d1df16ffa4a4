"""The bot as a live deployment: its "Runway" is a sandbox in the test process."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from bot.runway.sandbox import Sandbox
from tests.e2e.conftest import runway_settings
from tests.fakediscord import BotProcess, FakeDiscord, Member


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


async def test_about_reports_live_mode(fake_discord: FakeDiscord, bot: BotProcess, member: Member):
    reply = await (await fake_discord.invoke("about", member=member)).final()
    fields = {field.name: field.value for field in reply.embed.fields}
    assert fields["Mode"] == "Live"
    assert reply.embed.footer.text is None or "Sandbox" not in reply.embed.footer.text
