"""One way to build the bot's embeds, so every reply carries the same marks.

In sandbox mode each embed says in its footer that nothing is real: an admin trying
the bot must never mistake an emulated avatar for one that costs credits.
"""

from __future__ import annotations

import discord

SANDBOX_FOOTER = "Sandbox mode: nothing here is real and no Runway credits are used."

BRAND = discord.Colour.from_rgb(88, 101, 242)
SUCCESS = discord.Colour.green()
WARNING = discord.Colour.orange()
FAILURE = discord.Colour.red()


class EmbedFactory:
    def __init__(self, *, sandbox: bool) -> None:
        self.sandbox = sandbox

    def make(
        self,
        title: str,
        description: str | None = None,
        *,
        colour: discord.Colour = BRAND,
        footer: str | None = None,
    ) -> discord.Embed:
        embed = discord.Embed(title=title, description=description, colour=colour)
        parts = [part for part in (footer, SANDBOX_FOOTER if self.sandbox else None) if part]
        if parts:
            embed.set_footer(text=" · ".join(parts))
        return embed

    def error(self, message: str) -> discord.Embed:
        return self.make("That did not work", message, colour=FAILURE)
