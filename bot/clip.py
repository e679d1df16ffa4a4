"""Cutting text to a length, visibly, without breaking what is left.

Every layer needs it: a service quoting what a member typed, the Runway client quoting
Runway, the Discord layer fitting a reply into Discord's limits. So it lives here, with
no dependencies. A cut text ends in "…" and counts, like Discord, in code points.

A cut never ends inside a markdown escape (a lone trailing backslash would escape the
ellipsis, or whatever the bot writes after the text) and never splits a character from
what is drawn with it: combining marks, variation selectors, skin tones, the parts of a
zero-width-joined emoji or of a flag.
"""

from __future__ import annotations

import unicodedata
from typing import Final

ELLIPSIS: Final = "…"
_ZWJ: Final = "\u200d"
_SKIN_TONES: Final = range(0x1F3FB, 0x1F400)
_REGIONAL_INDICATORS: Final = range(0x1F1E6, 0x1F200)


def clip(text: str, limit: int) -> str:
    """`text` if it fits in `limit` code points, else its head and "…" within `limit`."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = _cluster_start(text, limit - 1)
    head = text[:cut].rstrip()
    if (len(head) - len(head.rstrip("\\"))) % 2:
        head = head[:-1]  # the first half of an escape such as \* or \\
    return head + ELLIPSIS


def _cluster_start(text: str, cut: int) -> int:
    """The largest index <= `cut` where a new character cluster begins."""
    while cut > 0 and (_attaches(text[cut]) or text[cut - 1] == _ZWJ):
        cut -= 1
    if cut > 0 and ord(text[cut]) in _REGIONAL_INDICATORS:
        run = 0
        while cut - run - 1 >= 0 and ord(text[cut - run - 1]) in _REGIONAL_INDICATORS:
            run += 1
        cut -= run % 2  # flags are pairs: do not keep half of one
    return cut


def _attaches(char: str) -> bool:
    """Whether `char` is drawn together with the character before it."""
    return (
        char == _ZWJ or unicodedata.category(char) in ("Mn", "Mc", "Me") or ord(char) in _SKIN_TONES
    )
