"""/privacy end to end: a member erases their data after confirming, the server's report keeps
its minutes under "forgotten members", the member's daily allowance still counts them, and
admins choose how long sessions are kept."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.e2e.database import rows
from tests.e2e.usage_steps import record_calls
from tests.fakediscord import BotProcess, FakeDiscord, Guild, InteractionResult, Member, Message


async def run(fake: FakeDiscord, command: str, who: Member, **options: Any) -> Message:
    reply = await (await fake.invoke(command, member=who, options=options or None)).final(20.0)
    assert reply.ephemeral
    return reply


async def settled(result: InteractionResult, text: str) -> Message:
    """The original reply once the bot has edited it to say `text`."""
    deadline = time.monotonic() + 10
    while True:
        message = await result.original()
        shown = message.text + "".join(
            str(embed.get("title", "")) + str(embed.get("description", ""))
            for embed in message.raw.get("embeds", [])
        )
        if text in shown:
            return message
        assert time.monotonic() < deadline, shown
        await asyncio.sleep(0.05)


def sessions_of(workdir: Path, member: Member) -> int:
    [row] = rows(workdir, "SELECT count(*) AS n FROM sessions WHERE member_id = ?", (member.id,))
    return int(row["n"])


async def test_a_member_erases_their_data_and_the_server_keeps_its_minutes(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    guild: Guild,
    admin: Member,
    member: Member,
    bot_workdir: Path,
) -> None:
    record_calls(
        bot_workdir,
        guild,
        [
            (member, "Ada", 120, "member_ended"),
            (member, "Ada", 60, "completed"),
            (admin, "Bob", 30, "completed"),
        ],
    )
    result = await fake_discord.invoke("privacy forget-me", member=member)
    question = await result.original()
    assert question.ephemeral
    assert "Erase what this bot keeps about you in this server?" in question.text
    await fake_discord.press_button(question, "Erase my data", member=member)
    done = await settled(result, "Your data in this server is erased")
    assert "calls: 2" in done.embed.description
    assert sessions_of(bot_workdir, member) == 0
    # Erasing resets no limit: today's 3 minutes stay charged to the member, and they are told.
    assert "Kept for this server's limits, with nothing else about you, until <t:" in (
        done.embed.description
    )
    assert "• call time used today: 3 min" in done.embed.description
    shown = await run(fake_discord, "quota show", member)
    today = {str(f.name): str(f.value) for f in shown.embed.fields}["Call time today"]
    assert today.startswith("**12 min** left of 15 min")

    report = await (
        await fake_discord.invoke("usage", member=admin, options={"period": "today"})
    ).final(timeout=20.0)
    assert "**3** calls, **3 min 30 s** in all, for this server." in report.embed.description
    top = {str(f.name): str(f.value) for f in report.embed.fields}["Top members"]
    assert top.splitlines()[0] == "forgotten members: 2 calls, 3 min"


async def test_cancelling_erases_nothing(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, member: Member, bot_workdir: Path
) -> None:
    record_calls(bot_workdir, guild, [(member, "Ada", 45, "member_ended")])
    result = await fake_discord.invoke("privacy forget-me", member=member)
    await fake_discord.press_button(await result.original(), "Cancel", member=member)
    await settled(result, "Nothing was erased.")
    assert sessions_of(bot_workdir, member) == 1


async def test_admins_choose_how_long_sessions_are_kept(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member
) -> None:
    shown = await run(fake_discord, "privacy retention", member)
    assert "Every session is kept" in shown.embed.description
    refused = await run(fake_discord, "privacy retention", member, months=3)
    assert "needs the Manage Server permission" in refused.text
    changed = await run(fake_discord, "privacy retention", admin, months=6)
    assert "the current month and the 6 months before it" in changed.embed.description
    back = await run(fake_discord, "privacy retention", admin, months=0)
    assert "Every session is kept" in back.embed.description


async def test_a_twelve_month_report_has_a_day_by_day_chart(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member, bot_workdir: Path
) -> None:
    record_calls(bot_workdir, guild, [(admin, "Ada", 90, "completed")])
    reply = await run(fake_discord, "usage", admin, period="12m")
    assert reply.embed.title == "Usage: Last 12 months"
    assert "**1** call, **1 min 30 s** in all" in reply.embed.description
    [chart] = reply.files
    assert chart.data.startswith(b"\x89PNG\r\n\x1a\n")
