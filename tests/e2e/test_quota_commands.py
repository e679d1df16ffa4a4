"""/quota end to end: members see their allowance, admins set, tier and reset limits, and the
bot posts a budget alert once a real call carries the server past a threshold.

The bot runs as a live deployment whose "Runway" is the `runway` sandbox in this process, so
a test can end a call at Runway and watch the bot settle it and post the alert.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.runway.sandbox import Sandbox
from tests.e2e.conftest import runway_settings
from tests.e2e.database import rows
from tests.fakediscord import BotProcess, Channel, FakeDiscord, Guild, Member, Message, Permission

LINK = re.compile(r"/join/(?P<code>[A-Za-z0-9_-]+)\)")
PAGE_HEADERS = {"X-Join": "1", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


async def run(fake: FakeDiscord, command: str, who: Member, **options: Any) -> Message:
    result = await fake.invoke(command, member=who, options=options or None)
    reply = await result.final(timeout=15.0)
    assert reply.ephemeral
    return reply


def fields(reply: Message, embed: int = 0) -> dict[str, str]:
    return {str(item["name"]): str(item["value"]) for item in reply.raw["embeds"][embed]["fields"]}


async def test_a_member_sees_the_default_allowance_only(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member
) -> None:
    reply = await run(fake_discord, "quota show", member)
    assert len(reply.raw["embeds"]) == 1  # the server's settings are for admins
    shown = fields(reply)
    assert shown["Call time today"].startswith("**15 min** left of 15 min")
    assert shown["Live calls"] == "yours: 0 of 1\nserver: 0 of 3"
    assert shown["Longest call"] == "5 min"
    assert "midnight UTC" in reply.embed.footer.text


async def test_an_admin_sets_a_limit_that_members_then_see(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member
) -> None:
    reply = await run(fake_discord, "quota set", admin, limit="member_day_seconds", amount="10")
    assert "Call time per member per day: **10 min**" in reply.embed.description
    assert "Call time per member per day: **10 min**\n" in fields(reply)["Limits"] + "\n"
    shown = fields(await run(fake_discord, "quota show", member))
    assert shown["Call time today"].startswith("**10 min** left of 10 min")
    admin_view = await run(fake_discord, "quota show", admin)
    assert len(admin_view.raw["embeds"]) == 2
    limits = fields(admin_view, 1)["Limits"]
    assert "Call time per member per day: **10 min**\n" in limits
    assert "Longest call: **5 min** (default)" in limits


async def test_members_cannot_change_limits(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member
) -> None:
    reply = await run(fake_discord, "quota set", member, limit="guild_live", amount="unlimited")
    assert "needs the Manage Server permission" in reply.text
    reply = await run(fake_discord, "quota show", member, member=member)  # yourself: fine
    assert reply.embed.title == "Allowance of member"
    other = fake_discord.create_member(member.guild, "other")
    refused = await run(fake_discord, "quota show", member, member=other)
    assert "needs the Manage Server permission" in refused.text


async def test_a_supporter_role_gets_more_and_the_most_generous_role_wins(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member
) -> None:
    supporter_role = await fake_discord.create_role(guild, "Supporter")
    staff_role = await fake_discord.create_role(guild, "Staff")
    supporter = fake_discord.create_member(guild, "sup", roles=[supporter_role])
    staff = fake_discord.create_member(guild, "staff", roles=[supporter_role, staff_role])
    await run(
        fake_discord,
        "quota set",
        admin,
        limit="member_day_seconds",
        amount="20",
        role=supporter_role,
    )
    reply = await run(
        fake_discord,
        "quota set",
        admin,
        limit="member_day_seconds",
        amount="unlimited",
        role=staff_role,
    )
    assert f"for <@&{staff_role.id}>: **unlimited**" in reply.embed.description
    by_role = fields(reply)["Call time by role"]
    assert f"<@&{supporter_role.id}>: 20 min a day" in by_role
    assert f"<@&{staff_role.id}>: unlimited" in by_role
    assert fields(await run(fake_discord, "quota show", supporter))["Call time today"].startswith(
        "**20 min** left of 20 min"
    )
    assert fields(await run(fake_discord, "quota show", staff))["Call time today"] == "unlimited"
    # An admin can look at a member's allowance; a role applies only to its own limit.
    looked = await run(fake_discord, "quota show", admin, member=supporter)
    assert looked.raw["embeds"][0]["title"] == "Allowance of sup"
    wrong = await run(
        fake_discord, "quota set", admin, limit="guild_live", amount="2", role=supporter_role
    )
    assert "Only the call time per member per day can differ by role" in wrong.text
    reset = await run(fake_discord, "quota reset", admin, role=supporter_role)
    assert "has no call time of its own any more" in reset.embed.description


async def test_the_timezone_is_suggested_checked_and_shown(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member
) -> None:
    choices = await fake_discord.autocomplete("quota set", "timezone", "paris", member=admin)
    assert [choice.value for choice in choices] == ["Europe/Paris"]
    refused = await run(fake_discord, "quota set", admin, timezone="Mars/Olympus")
    assert "I don't know the timezone" in refused.text
    reply = await run(fake_discord, "quota set", admin, timezone="europe/paris")
    assert fields(reply)["Timezone"] == "Europe/Paris"
    assert "midnight Europe/Paris" in (await run(fake_discord, "quota show", admin)).text
    unreadable = await run(
        fake_discord, "quota set", admin, limit="member_day_seconds", amount="ten minutes"
    )
    assert "I could not read" in unreadable.text


async def test_reset_everything_asks_first(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member
) -> None:
    await run(fake_discord, "quota set", admin, limit="cooldown_seconds", amount="2")
    result = await fake_discord.invoke(
        "quota reset", member=admin, options={"setting": "everything"}
    )
    question = await result.original()
    assert "back to the defaults" in question.text
    await fake_discord.press_button(question, "Reset everything", member=admin)
    deadline = time.monotonic() + 5
    while "Every limit is back" not in (await result.original()).text:
        assert time.monotonic() < deadline, (await result.original()).text
        await asyncio.sleep(0.05)
    limits = fields(await result.original())["Limits"]
    assert "Wait between a member's calls: **no wait** (default)" in limits


async def test_a_call_past_half_the_daily_budget_posts_one_alert(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    guild: Guild,
    admin: Member,
    member: Member,
    runway: Sandbox,
    bot_web_port: int,
    bot_workdir: Path,
) -> None:
    channel = guild.text_channel
    await run(
        fake_discord,
        "quota set",
        admin,
        limit="guild_day_seconds",
        amount="2",
        alert_channel=channel,
    )
    await run(fake_discord, "session start", member, avatar="preset:cat-character")
    dm = await fake_discord.wait_for_dm(member)
    found = LINK.search(dm.embed.description or "")
    assert found is not None, dm.text
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bot_web_port}") as page:
        await asyncio.sleep(0.3)  # the sandbox makes sessions ready after 0.2 s
        joined = await page.post(f"/join/{found['code']}/credentials", headers=PAGE_HEADERS)
        assert joined.status_code == 200, joined.text
    runway.end_session(runway_id_of(bot_workdir, member), after_seconds=70)
    alert = await wait_for_message(fake_discord, channel)
    assert alert.embed.title == "This server has used 50 % of its daily call time"
    assert "1 min 10 s of 2 min used" in (alert.embed.description or "")
    await asyncio.sleep(1.0)
    assert len(posts_in(fake_discord, channel)) == 1


def runway_id_of(workdir: Path, member: Member) -> str:
    [row] = rows(
        workdir,
        "SELECT runway_id FROM sessions WHERE guild_id = ? AND member_id = ?",
        (member.guild.id, member.id),
    )
    return str(row["runway_id"])


def posts_in(fake: FakeDiscord, channel: Channel) -> list[Message]:
    """What the bot posted for everyone in `channel` (not replies only one member sees)."""
    return [message for message in fake.channel_messages(channel) if not message.ephemeral]


async def wait_for_message(fake: FakeDiscord, channel: Channel, timeout: float = 12.0) -> Message:  # noqa: ASYNC109
    """The first message the bot posts in `channel` (the tracker settles every few seconds)."""
    deadline = time.monotonic() + timeout
    while not (found := posts_in(fake, channel)):
        assert time.monotonic() < deadline, "no alert was posted"
        await asyncio.sleep(0.05)
    return found[0]


async def test_an_alert_channel_the_bot_cannot_post_in_is_refused(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    no_embeds = int(
        Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES | Permission.USE_APPLICATION_COMMANDS
    )
    strict = await fake_discord.create_guild(
        "Strict Server", everyone_permissions=no_embeds, bot_permissions=no_embeds
    )
    admin = fake_discord.create_member(strict, "strict-admin", manage_guild=True)
    reply = await run(fake_discord, "quota set", admin, alert_channel=strict.text_channel)
    assert f"I can't post in <#{strict.text_channel.id}>" in reply.embed.description
    assert "missing **Embed Links** and **Attach Files**" in reply.embed.description
    shown = await run(fake_discord, "quota show", admin)
    limits = {field.name: field.value for field in shown.embeds[1].fields}
    assert limits["Alerts"] == "off"  # nothing was saved


async def test_a_start_the_allowance_cannot_hold_is_refused_with_when_it_resets(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member
) -> None:
    await run(fake_discord, "quota set", admin, limit="member_day_seconds", amount="5s")
    refused = await run(fake_discord, "session start", member, avatar="preset:cat-character")
    assert "Only 5 s of your daily 5 s are left: too little; they reset in" in refused.text
    assert "(at 00:00 UTC)" in refused.text
    await run(fake_discord, "quota set", admin, limit="member_day_seconds", amount="0")
    refused = await run(fake_discord, "session start", member, avatar="preset:cat-character")
    assert "Your roles give you no call time in this server." in refused.text
