"""Reusable Discord views: author-only, disabled on timeout, errors answered ephemerally."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.clip import clip
from bot.runway_bot import RunwayCharactersBot
from bot.ui.fit import BUTTON_LABEL, MODAL_TITLE
from bot.ui.tree import describe, report_error, tell_privately
from cogs.shared import NO_MENTIONS

log = logging.getLogger(__name__)

Interaction = discord.Interaction[RunwayCharactersBot]


class OwnedView(discord.ui.View):
    """A view only the member who opened it may use; it greys itself out when it expires."""

    def __init__(self, owner: Interaction, *, timeout: float = 180.0) -> None:
        super().__init__(timeout=timeout)
        self.owner = owner

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        if interaction.user.id == self.owner.user.id:
            return True
        await interaction.response.send_message(
            "These buttons belong to the member who ran the command.", ephemeral=True
        )
        return False

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button | discord.ui.Select):
                item.disabled = True
        # The reply may be gone or its token expired: then there is nothing left to grey out.
        with contextlib.suppress(discord.HTTPException):
            await self.owner.edit_original_response(view=self)

    async def on_error(  # type: ignore[override]
        self, interaction: Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)


class Confirm(OwnedView):
    """Yes / no before something that cannot be undone; `wait()` then read `confirmed`."""

    def __init__(self, owner: Interaction, *, confirm_label: str) -> None:
        super().__init__(owner, timeout=60.0)
        self.confirmed: bool | None = None
        self.decision: Interaction | None = None
        self.yes.label = clip(confirm_label, BUTTON_LABEL)

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def yes(self, interaction: Interaction, _: discord.ui.Button[Confirm]) -> None:
        await self._decide(interaction, confirmed=True)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def no(self, interaction: Interaction, _: discord.ui.Button[Confirm]) -> None:
        await self._decide(interaction, confirmed=False)

    async def _decide(self, interaction: Interaction, *, confirmed: bool) -> None:
        self.confirmed = confirmed
        self.decision = interaction
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        await interaction.response.edit_message(view=self)
        self.stop()


PageRenderer = Callable[[int], Awaitable[tuple[discord.Embed, int]]]


class Paginator(OwnedView):
    """Previous / next through pages that `render(page)` draws; it returns the page count."""

    def __init__(self, owner: Interaction, render: PageRenderer, *, pages: int) -> None:
        super().__init__(owner)
        self.render = render
        self.page = 0
        self.pages = pages
        self._sync()

    def _sync(self) -> None:
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= self.pages - 1

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: Interaction, _: discord.ui.Button[Paginator]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: Interaction, _: discord.ui.Button[Paginator]) -> None:
        await self._turn(interaction, +1)

    async def _turn(self, interaction: Interaction, step: int) -> None:
        self.page += step
        embed, self.pages = await self.render(self.page)
        self.page = min(self.page, self.pages - 1)
        self._sync()
        await interaction.response.edit_message(embed=embed, view=self)


class TextModal(discord.ui.Modal):
    """A modal whose submit hands the interaction to a callback; errors answered ephemerally."""

    def __init__(
        self,
        *,
        title: str,
        fields: list[discord.ui.TextInput[TextModal]],
        on_submit: Callable[[Interaction, dict[str, str]], Awaitable[None]],
    ) -> None:
        super().__init__(title=clip(title, MODAL_TITLE), timeout=900.0)
        self._fields = fields
        self._callback = on_submit
        for field in fields:
            self.add_item(field)

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        values = {str(field.custom_id): field.value for field in self._fields}
        await self._callback(interaction, values)

    async def on_error(self, interaction: Interaction, error: Exception) -> None:  # type: ignore[override]
        await replace_reply_with_error(interaction, error)


async def replace_reply_with_error(interaction: Interaction, error: BaseException) -> None:
    """After a deferral the reply may show a progress line ("⏳ Checking the image…"): the
    error replaces it, so nothing is left looking as if the bot were still busy. If the
    reply cannot be edited, the error is sent as an ephemeral followup instead."""
    if not interaction.response.is_done():
        await report_error(interaction, error)
        return
    embed = interaction.client.embeds.error(describe(interaction, error))
    try:
        await interaction.edit_original_response(
            content=None, embed=embed, view=None, allowed_mentions=NO_MENTIONS
        )
    except discord.HTTPException:
        # The reply would not change (dismissed, or Discord refused the edit): the member
        # still reads why, in a message of its own, rather than a reply stuck on "⏳".
        log.info("could not replace a reply with its error; sending it apart", exc_info=True)
        await tell_privately(interaction, embed)
