"""The invite link end to end: logged at start-up, shown to admins in /about, and asking for
exactly the permissions the bot's own REST calls need, no more and no less.

What a call needs is Discord's rule, written out here independently of the bot's code: a
message in a server channel needs View Channel and Send Messages, plus Embed Links when it
has embeds and Attach Files when it has files; interaction replies, follow-ups and DMs need
nothing. The bot is given exactly its invite's permissions in a fresh server and made to do
everything that posts there; the union of what those calls needed must be the invite.
"""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import parse_qs, urlsplit

from tests.e2e.avatar_steps import create_avatar
from tests.fakediscord import BotProcess, FakeDiscord, Guild, Member, Permission, RestCall

INVITE = re.compile(r"invite link \(adds the bot to a server\): (?P<url>\S+)")


def invite_from_log(bot: BotProcess) -> str:
    found = [match["url"] for line in bot.lines if (match := INVITE.search(line))]
    assert found, "the bot did not log its invite link at start-up"
    return found[-1]


def invite_parts(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


def needed_by(call: RestCall) -> int:
    """The permissions Discord checks for this REST call of the bot, in a server channel."""
    body = call.body if isinstance(call.body, dict) else {}
    needs = Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES
    if body.get("embeds"):
        needs |= Permission.EMBED_LINKS
    if call.uploads:
        needs |= Permission.ATTACH_FILES
    return int(needs)


def channel_posts(fake: FakeDiscord, guild: Guild) -> list[RestCall]:
    """Every REST call the bot made to `guild`'s channels."""
    ours = tuple(f"/channels/{channel.id}" for channel in guild.channels)
    return [call for call in fake.calls() if any(part in call.path for part in ours)]


async def wait_for(check, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the bot never did it"
        await asyncio.sleep(0.05)


async def test_the_invite_link_is_logged_with_both_scopes_and_the_bots_id(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    address, query = invite_parts(invite_from_log(bot))
    assert address == "https://discord.com/oauth2/authorize"
    assert query["client_id"] == [str(fake_discord.application_id)]
    assert sorted(query["scope"][0].split()) == ["applications.commands", "bot"]
    granted = int(query["permissions"][0])
    assert granted == int(
        Permission.VIEW_CHANNEL
        | Permission.SEND_MESSAGES
        | Permission.EMBED_LINKS
        | Permission.ATTACH_FILES
    )


async def test_the_invite_asks_for_exactly_what_the_bots_posts_need(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    granted = int(invite_parts(invite_from_log(bot))[1]["permissions"][0])
    members_may = Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES  # the bot gets these too
    guild = await fake_discord.create_guild(
        "Invited Server",
        everyone_permissions=int(members_may | Permission.USE_APPLICATION_COMMANDS),
        bot_permissions=granted,
    )
    admin = fake_discord.create_member(guild, "owner-admin", manage_guild=True)
    reviews = await fake_discord.create_text_channel(guild, "reviews")

    # The welcome, in the system channel.
    await wait_for(lambda: bool(fake_discord.channel_messages(guild.text_channel)))
    # A review post, with the avatar's picture.
    await (
        await fake_discord.invoke(
            "avatar permissions",
            member=admin,
            options={"approval": True, "review_channel": reviews},
        )
    ).final()
    reply = await create_avatar(fake_discord, admin, "Mia")
    assert f"waits for an admin's approval in <#{reviews.id}>" in str(reply.embed.description)
    # Budget alerts go to a channel that passes the same check.
    chosen = await (
        await fake_discord.invoke("quota set", member=admin, options={"alert_channel": reviews})
    ).final()
    assert f"Alerts go to <#{reviews.id}>" in str(chosen.embed.description)

    calls = channel_posts(fake_discord, guild)
    assert calls, "the bot posted nothing in the server"
    assert [call.status for call in calls] == [200] * len(calls)
    used = 0
    for call in calls:
        used |= needed_by(call)
    assert used == granted, f"needed {used}, the invite asks for {granted}"


async def test_admins_find_the_invite_in_about_and_members_do_not(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member
) -> None:
    url = invite_from_log(bot)

    shown = await (await fake_discord.invoke("about", member=admin)).final()
    fields = {str(field.name): str(field.value) for field in shown.embed.fields}
    assert url in fields["Invite link (admins)"]
    assert (
        "View Channel, Send Messages, Embed Links, Attach Files" in fields["Invite link (admins)"]
    )

    plain = await (await fake_discord.invoke("about", member=member)).final()
    assert url not in plain.text
