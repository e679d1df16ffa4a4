"""Knowledge uploads: plain text in UTF-8, UTF-16 or UTF-32 (with a byte-order mark), sized
in tokens that never fall below what common tokenizers count."""

from __future__ import annotations

import io
import zipfile

import bpe_openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import InvalidInput
from bot.services import token_count
from bot.services.knowledge_text import MAX_FILE_BYTES, SAVE_AS_UTF8, read_knowledge_file
from bot.services.token_count import byte_bound, estimate_tokens

# The oracles: the real vocabularies as bpe-openai ships them (older ones such as GPT-2's
# need tiktoken's registry and a download, so they are not among them).
ORACLES = [bpe_openai.get_encoding(name) for name in ("o200k_base", "cl100k_base")]


def oracle_counts(text: str) -> list[int]:
    return [len(encoding.encode_ordinary(text)) for encoding in ORACLES]


def test_plain_text_is_read_with_unix_line_ends() -> None:
    result = read_knowledge_file("menu.txt", b"Soup: tomato.\r\nBread: rye.\r\n")
    assert result.text == "Soup: tomato.\nBread: rye.\n"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_files_with_a_byte_order_mark_are_read(codec: str) -> None:
    text = "# Menü\nKäse, 日本語, emoji 🎉\n"
    data = text.encode(codec)
    if codec in ("utf-16-le", "utf-16-be"):  # what Notepad's "Unicode" saves: mark first
        data = ("\ufeff" + text).encode(codec)
    assert read_knowledge_file("notes.md", data).text == text


@pytest.mark.parametrize(
    ("text", "codec", "named"),
    [
        ("Les élèves ont mangé des crêpes délicieuses à la cafétéria, très bien.", "cp1252",
         "Windows-1252"),
        ("Привет, как дела? Это текст на русском языке, и он длинный.", "cp1251",
         "Windows-1251 (Cyrillic)"),
        ("これは日本語のテキストです。よろしくお願いします。", "shift_jis", "Shift JIS"),
    ],
)  # fmt: skip
def test_other_encodings_are_refused_by_name_with_how_to_save_as_utf8(
    text: str, codec: str, named: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_knowledge_file("notes.txt", text.encode(codec))
    message = caught.value.user_message
    assert message.startswith(f"That file is not UTF-8 text: it looks like {named}")
    assert message.endswith(SAVE_AS_UTF8)
    assert "Save as → Encoding: UTF-8" in message


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
        ("notes.txt", b"\xff\xfe" + "odd".encode("utf-16-le") + b"\x00", "damaged"),
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


# Every script the issue names, and what hypothesis makes of the whole of Unicode.
SCRIPTS = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="ascii")),
    st.text(alphabet="😀🎉👍🏽👨‍👩‍👧‍👦🇫🇷❤️\u200d🔥 \n"),
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)),
    st.text(alphabet=st.sampled_from(list("def (x): return {x[0]: y} if x else None;\n\t  "))),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCRIPTS)
def test_the_estimate_is_never_below_a_real_tokenizer(text: str) -> None:
    estimate = estimate_tokens(text)
    assert all(estimate >= count for count in oracle_counts(text))


@settings(max_examples=300, deadline=None)
@given(SCRIPTS)
def test_the_fallback_bound_holds_for_every_byte_level_tokenizer(text: str) -> None:
    assert all(byte_bound(text) >= count for count in oracle_counts(text))


def test_emoji_and_cjk_cost_what_tokenizers_spend() -> None:
    assert estimate_tokens("😀" * 40_000) >= 80_000  # cl100k spends two per 😀
    assert estimate_tokens("日本語のテキスト") >= max(oracle_counts("日本語のテキスト"))


def test_english_is_not_overcharged() -> None:
    prose = "The quick brown fox jumps over the lazy dog, then naps in the sun. " * 200
    assert estimate_tokens(prose) <= 1.1 * max(oracle_counts(prose))
    assert byte_bound(prose) >= 3.5 * max(oracle_counts(prose))  # why bytes are a fallback


def test_without_the_vocabularies_the_count_falls_back_to_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(token_count, "_counters", lambda: ())
    assert estimate_tokens("héllo") == 6
