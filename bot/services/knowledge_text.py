"""Reading an uploaded knowledge file and sizing it in tokens.

The bot accepts plain text only: strict UTF-8 (a byte-order mark is allowed and dropped),
no binary content whatever the file is called. Sizes are in tokens because Runway's
knowledge budget is 50,000 tokens per avatar.

No tokenizer that works offline ships with its vocabulary on PyPI, so tokens are
estimated, deliberately on the high side: ASCII words count one token per four letters
(at least one), digits one per three, every other symbol and every non-ASCII character
one each, and each line break one. For English prose this overestimates a modern BPE
tokenizer's count (about 1.3 tokens per word) by roughly a quarter, so an avatar never
goes over Runway's budget because the bot counted low.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from bot.errors import InvalidInput
from bot.runway import catalog

MAX_FILE_BYTES: Final = 1024 * 1024
ALLOWED_SUFFIXES: Final = (".txt", ".md", ".markdown")

_PIECES: Final = re.compile(r"[A-Za-z]+|[0-9]+|\n|[ \t\r\f\v]+|.", re.DOTALL)
_BINARY_MAGIC: Final = (
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
)
_ALLOWED_CONTROLS: Final = frozenset("\n\r\t\f")


@dataclass(frozen=True, slots=True)
class KnowledgeText:
    text: str
    tokens: int
    byte_size: int


def read_knowledge_file(filename: str, data: bytes) -> KnowledgeText:
    """Decode and size an upload, or say exactly why it cannot be used."""
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        raise InvalidInput("Knowledge files must be plain text: a `.txt` or `.md` file.")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(
            f"That file is {len(data) / 1024:.0f} KB; knowledge files may be at most "
            f"{MAX_FILE_BYTES // 1024} KB. Split it into smaller files."
        )
    for magic, name in _BINARY_MAGIC:
        if data.startswith(magic):
            raise InvalidInput(f"That file is {name}, not plain text, whatever its name says.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"That file is not valid UTF-8 text (bad byte at position {error.start}). "
            "Save it as UTF-8 and upload it again."
        ) from None
    if any(_is_binary_control(char) for char in text):
        raise InvalidInput("That file contains binary data, not plain text.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InvalidInput("That file is empty (or only whitespace); there is nothing to learn.")
    if len(text) > catalog.DOCUMENT_CONTENT_MAX:
        raise InvalidInput(
            f"That file has {len(text):,} characters; Runway takes at most "
            f"{catalog.DOCUMENT_CONTENT_MAX:,} per document. Split it into smaller files."
        )
    return KnowledgeText(text=text, tokens=estimate_tokens(text), byte_size=len(data))


def estimate_tokens(text: str) -> int:
    total = 0
    for piece in _PIECES.findall(text):
        first = piece[0]
        if first.isascii() and first.isalpha():
            total += max(1, math.ceil(len(piece) / 4))
        elif first.isdigit() and first.isascii():
            total += math.ceil(len(piece) / 3)
        elif piece == "\n":
            total += 1
        elif first.isspace():
            total += 0 if piece == " " else 1
        else:
            total += 1
    return total


def _is_binary_control(char: str) -> bool:
    return char not in _ALLOWED_CONTROLS and unicodedata.category(char) == "Cc"
