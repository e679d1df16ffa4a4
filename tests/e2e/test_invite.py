"""The invite link end to end: logged at start-up with both scopes and the bot's id, and
shown to admins in /about.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.fakediscord import BotProcess, FakeDiscord, Member, Permission

INVITE = re.compile(r"invite link \(adds the bot to a server\): (?P<url>\S+)")


def invite_from_log(bot: BotProcess) -> str:
    found = [match["url"] for line in bot.lines if (match := INVITE.search(line))]
    assert found, "the bot did not log its invite link at start-up"
    return found[-1]


def invite_parts(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


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
