"""Every command that takes an id answers "not found" for a value that is no id of this
server: twenty digits, past SQLite's 2^63 - 1, zero, negative, and digits that are not ASCII.
Before, twenty digits reached SQLite and came back as "Something went wrong"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.avatar_steps import create_avatar, refusal, text_file
from tests.fakediscord import Attachment, FakeDiscord, Member

NOT_IDS = [
    "99999999999999999999",
    str(2**63),
    "0",
    "-5",
    "²",
]
NO_AVATAR = "This server has no avatar by that name. Pick one from the list as you type."
NO_DOCUMENT = "Mia has no knowledge document by that name."


@pytest.mark.parametrize("value", NOT_IDS)
@pytest.mark.parametrize(
    ("command", "extra", "attachments"),
    [
        ("avatar show", {}, []),
        ("avatar edit", {}, []),
        ("avatar delete", {}, []),
        ("session start", {}, []),
        ("knowledge list", {}, []),
        ("knowledge add", {}, [text_file("Some facts.")]),
    ],
)
async def test_an_avatar_option_that_is_no_id_is_not_found(
    fake_discord: FakeDiscord,
    admin: Member,
    value: str,
    command: str,
    extra: dict[str, Any],
    attachments: list[Attachment],
) -> None:
    result = await fake_discord.invoke(
        command, member=admin, options={"avatar": value, **extra}, attachments=attachments
    )
    assert await refusal(fake_discord, result) == NO_AVATAR


async def test_a_document_option_that_is_no_id_is_not_found(
    fake_discord: FakeDiscord, admin: Member
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    for value in NOT_IDS:
        result = await fake_discord.invoke(
            "knowledge remove", member=admin, options={"avatar": "Mia", "document": value}
        )
        assert await refusal(fake_discord, result) == NO_DOCUMENT, value
