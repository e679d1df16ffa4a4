"""/help end to end: one ephemeral page per command group, switched with a menu, listing every
command Discord has registered for the bot, each under who may use it.

What each command is said to need is checked against what the bot then does: a member
without Manage Server is refused the commands /help lists for managers and admins.
"""

from __future__ import annotations

import re

import pytest

from tests.fakediscord import BotProcess, FakeDiscord, Member, Message

PAGE_MENU = "help:page"
LISTED = re.compile(r"^`/(?P<name>[-a-z_ ]+)` · (?P<description>.+)$", re.MULTILINE)
EVERYONE = "Everyone can"
MANAGERS = "Avatar managers (Manage Server, or the role set in /avatar permissions)"
ADMINS = "Admins only (Manage Server)"


def registered(fake: FakeDiscord) -> dict[str, str]:
    """Every command path Discord knows for the bot, with its description."""
    found: dict[str, str] = {}
    for command in fake.commands():
        subcommands = [o for o in command.options if int(o["type"]) == 1]
        if not subcommands:
            found[command.name] = command.data["description"]
        for sub in subcommands:
            found[f"{command.name} {sub['name']}"] = sub["description"]
    return found


def menu_values(message: Message) -> list[str]:
    [menu] = [c for row in message.components for c in row["components"] if c["type"] == 3]
    assert menu["custom_id"] == PAGE_MENU
    return [option["value"] for option in menu["options"]]


def listed_on(message: Message) -> dict[str, tuple[str, str]]:
    """command -> (heading, description) as the page lists them."""
    found: dict[str, tuple[str, str]] = {}
    for field in message.embed.fields:
        heading = str(field.name).removesuffix(" (more)")
        for match in LISTED.finditer(str(field.value)):
            assert match["name"] not in found, f"/{match['name']} listed twice on a page"
            found[match["name"]] = (heading, match["description"])
    return found


async def every_page(fake: FakeDiscord, who: Member) -> list[Message]:
    first = await (await fake.invoke("help", member=who)).final()
    assert first.ephemeral
    pages = [first]
    for value in menu_values(first)[1:]:
        turned = await fake.select(first, PAGE_MENU, [value], member=who)
        await turned.ack()
        page = fake.message(first.id)
        assert page is not None
        pages.append(page)
    return pages


async def test_help_lists_every_registered_command_once_under_who_may_use_it(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member
) -> None:
    pages = await every_page(fake_discord, member)

    listed: dict[str, tuple[str, str]] = {}
    for page in pages:
        for name, entry in listed_on(page).items():
            assert name not in listed, f"/{name} is on two pages"
            listed[name] = entry
    commands = registered(fake_discord)
    assert sorted(listed) == sorted(commands)
    assert {name: description for name, (_, description) in listed.items()} == commands
    audiences = {name: heading for name, (heading, _) in listed.items()}
    assert audiences["session start"] == EVERYONE
    assert audiences["avatar create"] == MANAGERS
    assert audiences["quota set"] == ADMINS
    assert {heading for heading in audiences.values()} == {EVERYONE, MANAGERS, ADMINS}


async def test_one_page_per_group_with_getting_started_first(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member
) -> None:
    pages = await every_page(fake_discord, member)

    titles = [page.embed.title for page in pages]
    groups = sorted(
        c.name for c in fake_discord.commands() if c.options and c.options[0]["type"] == 1
    )
    assert titles == ["Help · General"] + [f"Help · /{group}" for group in groups]
    start = pages[0].embed.description or ""
    assert "`/avatar permissions`" in start
    assert "`/session start`" in start
    for number, page in enumerate(pages, start=1):
        assert page.ephemeral
        assert f"Page {number} of {len(pages)}" in (page.embed.footer.text or "")
        for group_page in page.embed.fields:
            assert len(str(group_page.value)) <= 1024


async def test_the_menu_belongs_to_who_opened_it(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member, admin: Member
) -> None:
    first = await (await fake_discord.invoke("help", member=member)).final()
    other = await fake_discord.select(first, PAGE_MENU, [menu_values(first)[1]], member=admin)
    refusal = await other.original()
    assert refusal.ephemeral
    assert "belong to the member who ran the command" in refusal.text
    unchanged = fake_discord.message(first.id)
    assert unchanged is not None
    assert unchanged.embed.title == first.embed.title


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("quota set", {"timezone": "Europe/Paris"}),
        ("quota reset", {"setting": "timezone"}),
        ("avatar permissions", {"approval": True}),
        ("avatar history", {}),
    ],
)
async def test_what_help_lists_for_managers_and_admins_is_refused_to_members(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member, command: str, options: dict
) -> None:
    refused = await (await fake_discord.invoke(command, member=member, options=options)).final()
    assert "needs the Manage Server permission" in refused.text
