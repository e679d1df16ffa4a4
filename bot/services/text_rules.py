"""Cleaning the free text members give avatars: names, personalities, opening lines.

Zero-width and control characters are invisible in Discord but break names (two avatars
that look alike) and layouts, so they are removed; what remains must fit Runway's limits.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from bot.errors import InvalidInput
from bot.runway import catalog

_KEEP_IN_LONG_TEXT: Final = frozenset("\n\t")


def clean_name(raw: str) -> str:
    text = _visible(unicodedata.normalize("NFC", raw), keep=frozenset())
    text = " ".join(text.split())
    if not text:
        raise InvalidInput("An avatar needs a name with at least one visible character.")
    if len(text) > catalog.AVATAR_NAME_MAX:
        raise InvalidInput(
            f"Avatar names can be at most {catalog.AVATAR_NAME_MAX} characters "
            f"(that one has {len(text)})."
        )
    return text


def clean_personality(raw: str) -> str:
    text = _visible(raw, keep=_KEEP_IN_LONG_TEXT).strip()
    if not text:
        raise InvalidInput("The personality cannot be empty: describe how the avatar behaves.")
    if len(text) > catalog.PERSONALITY_MAX:
        raise InvalidInput(
            f"The personality can be at most {catalog.PERSONALITY_MAX:,} characters "
            f"(that one has {len(text):,})."
        )
    return text


def clean_start_script(raw: str | None) -> str | None:
    """An empty opening line means "none": the avatar waits for the member to speak."""
    if raw is None:
        return None
    text = _visible(raw, keep=_KEEP_IN_LONG_TEXT).strip()
    if len(text) > catalog.START_SCRIPT_MAX:
        raise InvalidInput(
            f"The opening line can be at most {catalog.START_SCRIPT_MAX:,} characters "
            f"(that one has {len(text):,})."
        )
    return text or None


def clean_document_name(raw: str) -> str:
    text = " ".join(_visible(raw, keep=frozenset()).split())
    if not text:
        raise InvalidInput("A knowledge document needs a name with a visible character.")
    return text[: catalog.DOCUMENT_NAME_MAX]


def _visible(text: str, *, keep: frozenset[str]) -> str:
    return "".join(
        char for char in text if char in keep or unicodedata.category(char) not in ("Cc", "Cf")
    )
