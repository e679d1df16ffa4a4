"""A call's transcript as Discord shows it: inline when short, a `.txt` file when long.

Inline, every line is escaped (markdown and mentions shown as typed, never rendered or
pinging) and the whole fits one embed. Inline and in a file, a turn's own line breaks and
control characters are folded into spaces, so no turn can pass itself off as another
speaker's line. A file is capped below Discord's upload limit, saying where it was cut.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Final

import discord

from bot.services.conversations import Speaker, Transcript, TranscriptLine
from bot.ui.fit import plain

INLINE_LIMIT: Final = 2_500
"""An inline transcript's characters: one embed of a message that carries two."""
FILE_LIMIT: Final = 8 * 1024 * 1024
"""A transcript file's bytes at most (Discord takes 10 MiB from a bot)."""
_FOLD: Final = re.compile(r"[\s\x00-\x1f\x7f\u2028\u2029]+")
_CUT_NOTE: Final = "[… cut here: the rest does not fit in a Discord file; Runway keeps it whole]"


@dataclass(frozen=True, slots=True)
class Rendered:
    """Exactly one of `inline` (embed text) and `file` (the .txt's text) is set."""

    inline: str | None = None
    file: str | None = None

    def attachment(self, filename: str) -> discord.File | None:
        if self.file is None:
            return None
        return discord.File(io.BytesIO(self.file.encode("utf-8")), filename=filename)


def render(
    transcript: Transcript, *, member: str, avatar: str, heading: str, as_file: bool = False
) -> Rendered:
    """The transcript with `member` and `avatar` as the speakers' names; `heading` opens the
    file (what call it is). `as_file` makes it a file however short it is."""
    names = {Speaker.MEMBER: member, Speaker.AVATAR: avatar}
    if as_file:
        return Rendered(file=_file(transcript, names, heading))
    if not transcript.lines:
        return Rendered(inline="Nothing was said." if not transcript.in_progress else "—")
    inline = [
        f"`{_clock(line)}` **{plain(names[line.speaker], limit=64)}:** "
        f"{plain(_fold(line.text), limit=INLINE_LIMIT)}"
        for line in transcript.lines
    ]
    note = "\n*The call is still going: this is what was said so far.*"
    shown = "\n".join(inline) + (note if transcript.in_progress else "")
    if len(shown) <= INLINE_LIMIT:
        return Rendered(inline=shown)
    return Rendered(file=_file(transcript, names, heading))


def _file(transcript: Transcript, names: dict[Speaker, str], heading: str) -> str:
    parts = [_fold(heading), ""]
    if transcript.in_progress:
        parts.append("(The call is still going: this is what was said so far.)")
    if not transcript.lines:
        parts.append("Nothing was said.")
    size = sum(len(part.encode("utf-8")) + 1 for part in parts)
    budget = FILE_LIMIT - len(_CUT_NOTE.encode("utf-8")) - 1
    for line in transcript.lines:
        text = f"[{_clock(line)}] {_fold(names[line.speaker])}: {_fold(line.text)}"
        size += len(text.encode("utf-8")) + 1
        if size > budget:
            parts.append(_CUT_NOTE)
            break
        parts.append(text)
    return "\n".join(parts) + "\n"


def _fold(text: str) -> str:
    return _FOLD.sub(" ", text).strip()


def _clock(line: TranscriptLine) -> str:
    if line.at is None:
        return "--:--"
    minutes, seconds = divmod(line.at, 60)
    return f"{minutes:02d}:{seconds:02d}"
