"""One way to build the bot's embeds, so every reply carries the same marks and fits.

In sandbox mode each embed says in its footer that nothing is real: an admin trying
the bot must never mistake an emulated avatar for one that costs credits.

Every embed made here fits Discord's limits when it is sent, whatever a cog put in it:
discord.py serialises an embed with `to_dict()`, and `FittedEmbed` fits the result
(`bot.ui.fit.fit_embed`), so a reply is trimmed rather than refused.
"""

from __future__ import annotations

from typing import cast

import discord
from discord.types.embed import Embed as EmbedData

from bot.ui.fit import EMBED_TOTAL, fit_embed

SANDBOX_FOOTER = "Sandbox mode: nothing here is real and no Runway credits are used."

BRAND = discord.Colour.from_rgb(88, 101, 242)
SUCCESS = discord.Colour.green()
WARNING = discord.Colour.orange()
FAILURE = discord.Colour.red()


class FittedEmbed(discord.Embed):
    """An embed that is cut to Discord's limits, and to `budget` characters, when sent."""

    budget: int = EMBED_TOTAL

    def to_dict(self) -> EmbedData:
        return cast(EmbedData, fit_embed(dict(super().to_dict()), self.budget))


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
    ) -> FittedEmbed:
        embed = FittedEmbed(title=title, description=description, colour=colour)
        parts = [part for part in (footer, SANDBOX_FOOTER if self.sandbox else None) if part]
        if parts:
            embed.set_footer(text=" · ".join(parts))
        return embed

    def error(self, message: str) -> FittedEmbed:
        return self.make("That did not work", message, colour=FAILURE)

    @staticmethod
    def together(*embeds: discord.Embed) -> list[discord.Embed]:
        """Embeds sent in one message, fitted to share Discord's 6,000 characters."""
        shared = [FittedEmbed.from_dict(embed.to_dict()) for embed in embeds]
        for embed in shared:
            embed.budget = EMBED_TOTAL // len(shared)
        return list(shared)
