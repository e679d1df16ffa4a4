"""What an avatar is asked to say: checked, made speakable, and how long it will take.

A member types Discord text: mentions, custom emoji and markdown. Runway's voice would read
`<@1234>` as digits and `**` as nothing useful, so the script sent is the text with mentions
left out, custom emoji by their names and formatting marks removed; the caption keeps what the
member wrote (escaped). A text that is nothing once those are gone is refused: there is
nothing to say.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Final

from bot.errors import InvalidInput
from bot.runway import catalog

_MENTION: Final = re.compile(r"<(?:@[!&]?|#)\d+>|@everyone|@here|<id:\w+>|</[\w -]+:\d+>")
_CUSTOM_EMOJI: Final = re.compile(r"<a?:(\w+):\d+>")
_TIMESTAMP: Final = re.compile(r"<t:\d+(?::\w)?>")
_MARKS: Final = re.compile(r"(\*+|_{2,}|~~|`+|\|\||^>>> |^> |^#{1,3} |^-# |^\s*[-*] )", re.M)
_LINK: Final = re.compile(r"\[([^\]]*)\]\((?:<)?https?://[^)\s]+(?:>)?\)")
_SPACES: Final = re.compile(r"\s+")

WIDE_PER_SECOND: Final = 4.0
"""Characters of scripts written without spaces (Chinese, Japanese, Korean) spoken a second."""
NARROW_PER_SECOND: Final = 12.0
"""Characters of other scripts spoken a second (about 150 words a minute), a little slower
than Runway's voices, so an estimate is rarely short."""
ESTIMATE_MARGIN: Final = 2


def clean_script(text: str) -> str:
    """The text Runway speaks, or InvalidInput saying what is wrong with it."""
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("The text is empty: write what the avatar should say.")
    if len(stripped) > catalog.VIDEO_TEXT_MAX:
        raise InvalidInput(
            f"The text is {len(stripped):,} characters; Runway speaks at most "
            f"{catalog.VIDEO_TEXT_MAX:,}. Shorten it, or split it into two videos."
        )
    spoken = _LINK.sub(r"\1", stripped)
    spoken = _CUSTOM_EMOJI.sub(r"\1", spoken)
    spoken = _TIMESTAMP.sub("", _MENTION.sub("", spoken))
    spoken = _MARKS.sub("", spoken)
    spoken = _SPACES.sub(" ", spoken).strip()
    if not any(unicodedata.category(char)[0] in "LN" for char in spoken):
        raise InvalidInput(
            "The text has nothing to say once mentions, emoji and formatting are left out: "
            "write the words the avatar should speak."
        )
    return spoken


def speaking_seconds(script: str) -> int:
    """About how long a voice takes to speak `script`, on the long side: what is reserved
    until Runway says what the video really cost."""
    wide = sum(1 for char in script if unicodedata.east_asian_width(char) in "WF")
    narrow = len(script) - wide
    return math.ceil(wide / WIDE_PER_SECOND + narrow / NARROW_PER_SECOND) + ESTIMATE_MARGIN
