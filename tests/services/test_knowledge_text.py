"""Knowledge uploads: plain UTF-8 text only, sized in (over-)estimated tokens."""

from __future__ import annotations

import io
import zipfile

import pytest

from bot.errors import InvalidInput
from bot.services.knowledge_text import MAX_FILE_BYTES, estimate_tokens, read_knowledge_file


def test_plain_text_is_read_and_sized() -> None:
    result = read_knowledge_file("menu.txt", b"Soup: tomato.\r\nBread: rye.\r\n")
    assert result.text == "Soup: tomato.\nBread: rye.\n"
    assert result.tokens == estimate_tokens(result.text)
    assert result.tokens > 0


def test_byte_order_mark_is_allowed_and_dropped() -> None:
    result = read_knowledge_file("notes.md", "\ufeff# Notes\nHello".encode())
    assert result.text == "# Notes\nHello"


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.txt", zipped(), "ZIP archive"),
        ("notes.txt", b"%PDF-1.4 ...", "PDF document"),
        ("notes.md", b"\x89PNG\r\n\x1a\n....", "PNG image"),
        ("notes.txt", "caf\xe9".encode("latin-1"), "not valid UTF-8"),
        ("notes.txt", b"text\x00with\x00nuls", "binary data"),
        ("notes.txt", b"", "empty"),
        ("notes.txt", b"  \n\t\n   ", "empty"),
        ("notes.pdf", b"hello", "`.txt` or `.md`"),
        ("notes", b"hello", "`.txt` or `.md`"),
        ("big.txt", b"a" * (MAX_FILE_BYTES + 1), "at most 1024 KB"),
        ("long.txt", b"a " * 100_001, "at most 200,000"),
    ],
)
def test_bad_uploads_are_refused_clearly(name: str, data: bytes, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_knowledge_file(name, data)
    assert words in caught.value.user_message


def test_estimate_is_on_the_high_side_for_english() -> None:
    sentence = "The quick brown fox jumps over the lazy dog."
    # A BPE tokenizer gives 10 tokens here; the estimate must not be lower.
    assert estimate_tokens(sentence) >= 10
    assert estimate_tokens("word " * 1000) >= 1000


def test_every_non_ascii_character_counts() -> None:
    assert estimate_tokens("日本語のテキスト") == 8
    assert estimate_tokens("1234567") == 3
