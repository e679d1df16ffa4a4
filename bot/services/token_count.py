"""Sizing knowledge in tokens, as an upper bound for the tokenizers in common use.

Runway's budget is 50,000 tokens per avatar, counted by a tokenizer it does not name. The bot
counts with the two byte-level BPE vocabularies most chat models use today, OpenAI's
`o200k_base` and `cl100k_base`, and takes the larger count. Both ship inside the
`bpe-openai` wheel (nothing is downloaded at run time); loading them costs ~180 MB for a
moment, so the count runs in a short-lived worker process (`bot.workers`).

Should that library be missing, the count falls back on the one bound that holds for every
byte-level BPE, whatever its vocabulary: every token stands for at least one UTF-8 byte, so a
text never has more tokens than bytes. That fallback is safe on every script but costs
ordinary English about four times its real count (a word of five letters and a space is one
or two tokens, six bytes), so it is only the fallback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

ENCODINGS: Final = ("o200k_base", "cl100k_base")


def count_tokens(payload: bytes) -> int:
    """The worker's job: tokens in UTF-8 `payload` (see `estimate_tokens`)."""
    return estimate_tokens(payload.decode("utf-8"))


def estimate_tokens(text: str) -> int:
    """The larger of the o200k and cl100k counts, or the UTF-8 length without them."""
    counters = _counters()
    if not counters:
        return byte_bound(text)
    return max(count(text) for count in counters)


def byte_bound(text: str) -> int:
    """An upper bound for any byte-level BPE tokenizer: one token per UTF-8 byte at most."""
    return len(text.encode("utf-8"))


@functools.cache
def _counters() -> tuple[Callable[[str], int], ...]:
    try:
        import bpe_openai  # noqa: PLC0415 - ~180 MB once loaded: only where tokens are counted
    except ImportError:
        log.warning("bpe-openai is not installed: token counts fall back to UTF-8 bytes")
        return ()
    counters = []
    for name in ENCODINGS:
        encoding = bpe_openai.get_encoding(name)
        counters.append(lambda text, encoding=encoding: len(encoding.encode_ordinary(text)))
    return tuple(counters)
