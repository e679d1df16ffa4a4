"""Buttons that keep working after a restart, and long after the message was sent.

A persistent button (discord.py's `DynamicItem`) carries what it acts on in its custom_id,
"<prefix>:<id>" or "<prefix>:<choice>:<id>" ("avatar-video:cancel:42",
"video-review:approve:42"), because the bot that reads the press may not be the one that
sent it. Each kind of button declares its prefix, its choices and its look; the custom_id
is written, parsed and checked here (a whole match: the prefix, a known choice, and an id
of at most 19 digits, as a 64-bit id has), and any error in a press is answered the same
way: ephemerally, to whoever pressed, with the bot's one error path.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final, Self

import discord

from bot.ui.tree import report_error
from cogs.shared import Interaction

ID: Final = r"\d{1,19}"
"""A row's id or a Discord snowflake: a positive 64-bit integer."""
_NEVER: Final = r"(?!)"
"""The template of a family of buttons (a base class): it matches no custom_id."""

Button = discord.ui.Button[discord.ui.View]


class PersistentButton(discord.ui.DynamicItem[Button], template=_NEVER):
    """One kind of persistent button: declare `prefix=` (and `choices=`) on the subclass,
    set `LABEL`, `STYLE`, `EMOJI` (or override `look`), and write `pressed`."""

    PREFIX: ClassVar[str] = ""
    CHOICES: ClassVar[tuple[str, ...]] = ()
    LABEL: ClassVar[str] = ""
    STYLE: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary
    EMOJI: ClassVar[str | None] = None

    def __init_subclass__(
        cls, *, prefix: str | None = None, choices: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        if prefix is None:  # another family of buttons, not a button of its own
            super().__init_subclass__(template=_NEVER, **kwargs)
            return
        cls.PREFIX, cls.CHOICES = prefix, choices
        choice = f"(?P<choice>{'|'.join(map(re.escape, choices))}):" if choices else ""
        super().__init_subclass__(
            template=rf"{re.escape(prefix)}:{choice}(?P<target>{ID})", **kwargs
        )

    def __init__(self, target_id: int, choice: str | None = None) -> None:
        if choice not in (self.CHOICES or (None,)):
            raise ValueError(f"{type(self).__name__} takes a choice of {self.CHOICES}: {choice!r}")
        self.target_id = target_id
        self.choice = choice
        label, style = self.look()
        custom_id = ":".join([self.PREFIX, *([choice] if choice else []), str(target_id)])
        super().__init__(
            discord.ui.Button(label=label, style=style, emoji=self.EMOJI, custom_id=custom_id)
        )

    def look(self) -> tuple[str, discord.ButtonStyle]:
        """The button's label and style."""
        return self.LABEL, self.STYLE

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: Button, match: re.Match[str], /
    ) -> Self:
        return cls(int(match["target"]), match.groupdict().get("choice"))

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        try:
            await self.pressed(interaction)
        except Exception as error:  # answered ephemerally, whatever went wrong
            await report_error(interaction, error)

    async def pressed(self, interaction: Interaction) -> None:
        raise NotImplementedError


APPROVE: Final = "approve"
REJECT: Final = "reject"
VERDICTS: Final = (APPROVE, REJECT)


class VerdictButton(PersistentButton):
    """Approve / Reject on a review post: declare `prefix=` and `choices=VERDICTS`."""

    def look(self) -> tuple[str, discord.ButtonStyle]:
        if self.approve:
            return "Approve", discord.ButtonStyle.success
        return "Reject", discord.ButtonStyle.danger

    @property
    def approve(self) -> bool:
        return self.choice == APPROVE

    @classmethod
    def pair(cls, target_id: int) -> discord.ui.View:
        """The two buttons under a review post."""
        return persistent_view(cls(target_id, APPROVE), cls(target_id, REJECT))


def persistent_view(*buttons: PersistentButton) -> discord.ui.View:
    """A view of `buttons` that never times out (each press finds its button by custom_id)."""
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view
