"""/usage end to end: the embed, its PNG chart, the CSV export, and who may see what.

The bot runs in sandbox mode (production dialect), so the report also reconciles with the
emulated Runway, which has seen none of the calls written into the bot's books here.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from PIL import Image

from tests.e2e.usage_steps import record_calls
from tests.fakediscord import BotProcess, FakeDiscord, Guild, Member, Message

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def usage(fake: FakeDiscord, who: Member, **options: Any) -> Message:
    result = await fake.invoke("usage", member=who, options=options or None)
    reply = await result.final(timeout=20.0)
    assert reply.ephemeral
    return reply


def fields(reply: Message) -> dict[str, str]:
    return {str(field.name): str(field.value) for field in reply.embed.fields}


async def test_an_admin_sees_the_server_with_a_chart_and_runways_figures(
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
            (member, "Ada", 60, "time_limit"),
            (admin, "@everyone <b>", 30, "failed"),
        ],
    )
    reply = await usage(fake_discord, admin, period="today")
    assert reply.embed.title == "Usage: Today"
    assert "**3** calls, **3 min 30 s** in all, for this server." in reply.embed.description
    shown = fields(reply)
    assert shown["Top avatars"].splitlines()[0] == "**Ada**: 2 calls, 3 min"
    assert "**@\u200beveryone <b>**: 1 call, 30 s" in shown["Top avatars"]  # never a ping
    assert shown["Top members"].splitlines()[0] == f"<@{member.id}>: 2 calls, 3 min"
    assert "member hung up: 1" in shown["How calls ended"]
    assert "time limit: 1" in shown["How calls ended"]
    assert "failure: 1" in shown["How calls ended"]
    books = shown["Runway's figures (whole account)"]
    assert "Runway: 0 s in 0 conversations" in books
    assert "Difference: +3 min 30 s" in books
    [chart] = reply.files
    assert chart.filename == "usage.png"
    assert chart.data.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(chart.data)) as image:
        assert image.size == (800, 360)
    assert reply.embed.image.url == "attachment://usage.png"


async def test_an_admin_exports_the_period_as_csv(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member, bot_workdir: Path
) -> None:
    record_calls(bot_workdir, guild, [(admin, "=HYPERLINK()", 45, "member_ended")])
    reply = await usage(fake_discord, admin, period="7d", csv=True)
    chart, table = reply.files
    assert chart.filename == "usage.png"
    assert table.filename.startswith(f"usage-{guild.id}-7d-")
    rows = list(csv.DictReader(io.StringIO(table.data.decode("utf-8"))))
    assert [(row["avatar"], row["used_seconds"], row["state"]) for row in rows] == [
        ("'=HYPERLINK()", "45", "SETTLED")
    ]


async def test_a_member_sees_only_their_own_calls(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    guild: Guild,
    admin: Member,
    member: Member,
    bot_workdir: Path,
) -> None:
    record_calls(
        bot_workdir, guild, [(member, "Ada", 90, "member_ended"), (admin, "Bob", 30, "completed")]
    )
    reply = await usage(fake_discord, member)
    assert reply.embed.title == "Usage: Last 7 days"
    assert "**1** call, **1 min 30 s** in all, for you." in reply.embed.description
    assert "Top members" not in fields(reply)
    assert "Runway's figures (whole account)" not in fields(reply)
    assert len(reply.files) == 1
    refused = await usage(fake_discord, member, member=admin)
    assert "Only members with the Manage Server permission see others' usage." in refused.text
    no_export = await usage(fake_discord, member, csv=True)
    assert "Exporting usage needs the Manage Server permission." in no_export.text
    about_member = await usage(fake_discord, admin, member=member, period="month")
    assert "for member." in about_member.embed.description
