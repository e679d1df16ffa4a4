"""Text on components fits Discord's limits whatever it is made from (bot.ui.fit).

Discord refuses a whole reply or modal when one label is too long ("Message Components":
a button's label 80, a select option's label and description 100; "Interactions > Modal":
a title 45), so the views cut theirs, visibly, never inside a character.
"""

from __future__ import annotations

from typing import Any

from cogs.command_index import CommandGroup
from cogs.help import HelpPages
from cogs.views import Confirm, TextModal

OWNER: Any = object()  # the views only keep the interaction that opened them


async def test_a_confirm_button_label_is_cut_to_80() -> None:
    confirm = Confirm(OWNER, confirm_label="Delete " + "🧑🏽‍🚀" * 30)
    label = str(confirm.yes.label)
    assert label == "Delete " + "🧑🏽‍🚀" * 18 + "…"
    assert len(label) <= 80
    assert Confirm(OWNER, confirm_label="Delete Mia").yes.label == "Delete Mia"


async def test_a_modal_title_is_cut_to_45() -> None:
    async def nothing(*_: Any) -> None:
        return None

    modal = TextModal(title="Edit " + "\\_" * 40, fields=[], on_submit=nothing)
    assert modal.title == "Edit " + "\\_" * 19 + "…"  # never half an escape
    assert len(modal.title) <= 45


async def test_help_menu_options_are_cut_to_100() -> None:
    groups = [CommandGroup(name="avatar", description="Avatars. " * 20, commands=())]
    [option] = HelpPages(OWNER, groups).menu.options
    assert option.label == "/avatar"
    assert option.description == ("Avatars. " * 11).rstrip() + "…"
    assert len(option.description) <= 100
