"""A discord.py bot that exercises every path of the fake Discord, for the harness's own tests.

It is not the product: each command does one Discord thing (reply, defer and edit,
followups, files both ways, DMs, a modal, buttons, autocomplete, subcommands with
resolved options, a permission-gated command) and one deliberately breaks Discord's
rules (`/malformed`), so the self-tests can show the harness accepts what Discord
accepts and reports what it would refuse. Run as `python -m tests.fakediscord_selftest.probe_bot`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from bot.discord_endpoint import use_discord_api_base

log = logging.getLogger("probe")
tree_commands: list[app_commands.Command[Any, Any, None] | app_commands.Group] = []
Callback = Callable[..., Coroutine[Any, Any, None]]


def command(func: Callback) -> app_commands.Command[Any, Any, None]:
    """Register a module-level slash command on the probe bot."""
    cmd: app_commands.Command[Any, Any, None] = app_commands.command()(func)
    tree_commands.append(cmd)
    return cmd


@command
@app_commands.describe(text="What to say", times="How often", shout="Upper case")
async def echo(
    interaction: discord.Interaction,
    text: str,
    times: app_commands.Range[int, 1, 3] = 1,
    shout: bool = False,
) -> None:
    """Repeat the text."""
    said = " ".join([text.upper() if shout else text] * times)
    await interaction.response.send_message(said)


@command
async def think(interaction: discord.Interaction, delay: float = 0.05) -> None:
    """Defer ephemerally, then edit the reply."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    await asyncio.sleep(delay)
    try:
        await interaction.edit_original_response(
            embed=discord.Embed(title="Done", description=f"after {delay}")
        )
    except discord.HTTPException as exc:
        log.warning("edit failed: %s %s", exc.status, exc.code)


@command
async def chatty(interaction: discord.Interaction) -> None:
    """Defer, then send two followups (the first completes the deferral)."""
    await interaction.response.defer()
    first = await interaction.followup.send("first", wait=True)
    await interaction.followup.send("second", ephemeral=True)
    await first.edit(content="first, edited")


@command
async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
    """Read the member's file and send back its digest and a file."""
    data = await file.read()
    digest = hashlib.sha256(data).hexdigest()
    reply = discord.File(io.BytesIO(data[::-1]), filename="reversed.bin")
    await interaction.response.send_message(f"{file.filename} {len(data)} {digest}", file=reply)


@command
async def dm(interaction: discord.Interaction) -> None:
    """DM the member; say so, or say their DMs are closed."""
    try:
        await interaction.user.send("hello in private")
    except discord.Forbidden as exc:
        await interaction.response.send_message(f"dms closed ({exc.code})", ephemeral=True)
    else:
        await interaction.response.send_message("sent you a DM", ephemeral=True)


class NameForm(discord.ui.Modal, title="Your name"):
    name: discord.ui.TextInput[NameForm] = discord.ui.TextInput(
        label="Name", custom_id="name", max_length=20
    )
    note: discord.ui.TextInput[NameForm] = discord.ui.TextInput(
        label="Note", custom_id="note", required=False, style=discord.TextStyle.paragraph
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"hello {self.name.value} ({self.note.value})")


@command
async def form(interaction: discord.Interaction) -> None:
    """Show a modal."""
    await interaction.response.send_modal(NameForm(custom_id="probe:name"))


class Counter(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.count = 0

    @discord.ui.button(label="Add", custom_id="probe:add")
    async def add(
        self, interaction: discord.Interaction, button: discord.ui.Button[Counter]
    ) -> None:
        self.count += 1
        await interaction.response.edit_message(content=f"count {self.count}", view=self)

    @discord.ui.select(
        custom_id="probe:size",
        options=[
            discord.SelectOption(label="Small", value="small"),
            discord.SelectOption(label="Large", value="large"),
        ],
    )
    async def size(
        self, interaction: discord.Interaction, select: discord.ui.Select[Counter]
    ) -> None:
        await interaction.response.edit_message(content=f"size {select.values[0]}", view=self)

    @discord.ui.button(label="Off", custom_id="probe:off", disabled=True)
    async def off(
        self, interaction: discord.Interaction, button: discord.ui.Button[Counter]
    ) -> None:
        raise AssertionError("a disabled button cannot be pressed")


@command
async def counter(interaction: discord.Interaction) -> None:
    """A message with a button that counts."""
    await interaction.response.send_message("count 0", view=Counter())


FRUITS = ["apple", "apricot", "banana", "blueberry", "cherry"]


@command
async def fruit(interaction: discord.Interaction, name: str) -> None:
    """Pick a fruit (with autocomplete)."""
    await interaction.response.send_message(f"you picked {name}", ephemeral=True)


@fruit.autocomplete("name")
async def fruit_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=f, value=f) for f in FRUITS if f.startswith(current.lower())][
        :25
    ]


group = app_commands.Group(name="team", description="Team things")
tree_commands.append(group)


@group.command(name="add")
async def team_add(
    interaction: discord.Interaction, who: discord.Member, role: discord.Role
) -> None:
    """Add someone to a team."""
    perms = interaction.permissions.manage_guild
    await interaction.response.send_message(
        f"{who.display_name} joins {role.name} (caller manage_guild={perms}, "
        f"locale={interaction.locale.value}, app_manage={interaction.app_permissions.manage_guild})"
    )


@command
@app_commands.default_permissions(manage_guild=True)
async def settings(interaction: discord.Interaction) -> None:
    """Only for server managers."""
    allowed = interaction.permissions.manage_guild
    await interaction.response.send_message(f"manage_guild={allowed}", ephemeral=True)


@command
async def malformed(interaction: discord.Interaction) -> None:
    """Break Discord's rules: a reply longer than 2000 characters."""
    try:
        await interaction.response.send_message("x" * 2001)
    except discord.HTTPException as exc:
        log.warning("refused as expected: %s %s", exc.status, exc.code)
        await interaction.followup.send("unreachable")


@command
async def slow(interaction: discord.Interaction, delay: float) -> None:
    """Answer after `delay` seconds (too late when above Discord's deadline)."""
    await asyncio.sleep(delay)
    try:
        await interaction.response.send_message("finally")
    except discord.NotFound as exc:
        log.warning("late: %s", exc.code)


class ProbeBot(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            intents=intents,
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
            guild_ready_timeout=0.1,
        )
        self.tree = app_commands.CommandTree(self)
        for cmd in tree_commands:
            self.tree.add_command(cmd)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_ready(self) -> None:
        print(f"probe ready in {len(self.guilds)} guilds", flush=True)

    async def on_resumed(self) -> None:
        print("probe resumed", flush=True)


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    use_discord_api_base(os.environ["DISCORD_API_BASE_URL"])
    async with ProbeBot() as client:
        await client.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
