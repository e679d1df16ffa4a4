"""Reading an uploaded knowledge file as text.

The bot accepts plain text only, no binary content whatever the file is called: UTF-8 (a
byte-order mark is allowed and dropped), and UTF-16 or UTF-32 with a byte-order mark (what
Windows Notepad saves as "Unicode"), which is unambiguous. Any other file is refused with
the encoding it most likely is, as charset-normalizer guesses it, and how to save it as
UTF-8. Sizing in tokens is `token_count`'s job.
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass
from typing import Final

from bot.errors import InvalidInput
from bot.runway import catalog

MAX_FILE_BYTES: Final = 1024 * 1024
ALLOWED_SUFFIXES: Final = (".txt", ".md", ".markdown")

# UTF-32's little-endian mark begins with UTF-16's, so it is looked for first.
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
# What charset-normalizer's codec names mean to a person.
_ENCODING_NAMES: Final = {
    "cp1252": 'Windows-1252 (Western European, "ANSI" in Notepad)',
    "latin_1": "ISO-8859-1 (Latin-1)",
    "iso8859_15": "ISO-8859-15 (Latin-9)",
    "cp1250": "Windows-1250 (Central European)",
    "cp1251": "Windows-1251 (Cyrillic)",
    "koi8_r": "KOI8-R (Cyrillic)",
    "cp1253": "Windows-1253 (Greek)",
    "cp1254": "Windows-1254 (Turkish)",
    "cp1255": "Windows-1255 (Hebrew)",
    "cp1256": "Windows-1256 (Arabic)",
    "cp932": "Shift JIS (Japanese)",
    "shift_jis": "Shift JIS (Japanese)",
    "euc_jp": "EUC-JP (Japanese)",
    "gb2312": "GB2312 (Simplified Chinese)",
    "gb18030": "GB18030 (Simplified Chinese)",
    "big5": "Big5 (Traditional Chinese)",
    "cp949": "EUC-KR (Korean)",
    "euc_kr": "EUC-KR (Korean)",
    "mac_roman": "Mac OS Roman",
    "cp437": "DOS code page 437",
    "cp850": "DOS code page 850",
    "utf_16": "UTF-16 without a byte-order mark",
    "utf_16_le": "UTF-16 without a byte-order mark",
    "utf_16_be": "UTF-16 without a byte-order mark",
    "utf_32": "UTF-32 without a byte-order mark",
}
_POPULARITY: Final = tuple(_ENCODING_NAMES)
"""Most widespread first: the order of `_ENCODING_NAMES`."""
SAVE_AS_UTF8: Final = (
    "Save it as UTF-8 and upload it again: in Windows Notepad, File → Save as → "
    "Encoding: UTF-8; in TextEdit, Format → Make Plain Text, then save with UTF-8; other "
    "editors offer the encoding in their Save dialog."
)
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
    text = _decode(data)
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
    return KnowledgeText(text=text, byte_size=len(data))


def _decode(data: bytes) -> str:
    for mark, codec, name in _BOMS:
        if data.startswith(mark):
            try:
                return data.decode(codec).removeprefix("\ufeff")
            except UnicodeDecodeError:
                raise InvalidInput(
                    f"That file starts like {name} text but is damaged further on. " + SAVE_AS_UTF8
                ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"That file is not UTF-8 text: it looks like {likely_encoding(data)}. " + SAVE_AS_UTF8
        ) from None


def likely_encoding(data: bytes) -> str:
    """The encoding charset-normalizer finds most likely, named for a person.

    Only encodings people still save text in are considered, and among those it scores
    alike (short texts often decode cleanly in several) the most widespread is named.
    """
    from charset_normalizer import from_bytes  # noqa: PLC0415 - only for refused files

    matches = list(from_bytes(data, cp_isolation=list(_ENCODING_NAMES)))
    if not matches:
        return "binary data or an encoding the bot cannot recognise"
    best = matches[0]
    alike = {
        encoding
        for match in matches
        if (match.chaos, match.coherence) == (best.chaos, best.coherence)
        for encoding in match.could_be_from_charset  # those that decode to the same text
        if encoding in _ENCODING_NAMES
    } or {best.encoding}
    return _ENCODING_NAMES[min(alike, key=_POPULARITY.index)]


def _is_binary_control(char: str) -> bool:
    return char not in _ALLOWED_CONTROLS and unicodedata.category(char) == "Cc"
