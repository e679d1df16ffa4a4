"""Cutting text: within the limit, visibly, and never through an escape or a character."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bot.clip import ELLIPSIS, clip

TEXT = st.text(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(["\\", "\u0301", "\u200d", "🏽", "🇫", "🇷", "\ufe0f"]),
    ),
    max_size=80,
)


def test_text_that_fits_is_returned_as_it_is() -> None:
    assert clip("Mia", 3) == "Mia"
    assert clip("", 0) == ""


def test_a_cut_ends_with_an_ellipsis_within_the_limit() -> None:
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc   def", 5) == "abc…"  # no dangling space before the ellipsis
    assert clip("abcdef", 0) == ""


def test_a_cut_never_ends_inside_an_escape() -> None:
    assert clip("ab\\*cd", 4) == "ab…"  # not "ab\…", which would escape the ellipsis
    assert clip("ab\\\\cd", 5) == "ab\\\\…"  # an escaped backslash stays whole


def test_a_cut_keeps_characters_whole() -> None:
    assert clip("cafe\u0301s", 5) == "caf…"  # not "cafe" without its accent
    assert clip("ok👍🏽x", 4) == "ok…"  # not a thumb without its skin tone
    assert clip("ok👩\u200d👩\u200d👧x", 6) == "ok…"  # a family, not part of one
    assert clip("🇫🇷🇩🇪🇮🇹", 4) == "🇫🇷…"  # flags are pairs


@given(text=TEXT, limit=st.integers(min_value=0, max_value=90))
def test_any_cut_fits_is_a_prefix_and_says_so(text: str, limit: int) -> None:
    cut = clip(text, limit)
    assert len(cut) <= limit
    if cut == text:
        return
    assert cut == "" or cut.endswith(ELLIPSIS)
    head = cut.removesuffix(ELLIPSIS)
    assert text.startswith(head)
    assert (len(head) - len(head.rstrip("\\"))) % 2 == 0
    assert not head or unicodedata.category(text[len(head)]) not in ("Mn", "Me")
