"""Secrets out of every log line, whoever wrote it and at whatever level.

The bot's own code never logs a secret, but its libraries may at DEBUG (discord.py's webhook
logger prints interaction URLs, which carry the interaction's token), and an exception's text
can quote a URL. So the log handler passes every formatted line through `redact`: the values
of the secrets this process was configured with are replaced wherever they appear, and
patterns catch secrets it cannot know in advance (join codes in paths, bearer tokens, the
password in a database URL, interaction tokens, Discord and Runway key shapes, JWTs).
"""

from __future__ import annotations

import re
from typing import Final

REDACTED: Final = "[redacted]"
MIN_SECRET_LENGTH: Final = 6
"""Shorter configured values are not replaced literally (they would blank out common words);
the patterns below still apply."""

_PATTERNS: Final = (
    # A join link's one-time code, and anything after it (its sub-routes).
    (re.compile(r"(/join/)[A-Za-z0-9_-]{8,}"), r"\1[code]"),
    # An interaction's or webhook's token in a Discord URL; the id before it stays.
    (re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9_.-]{16,}"), r"\1" + REDACTED),
    # Authorization headers and bearer tokens however quoted.
    (re.compile(r"(?i)(\bbearer\s+)[^\s'\",;]+"), r"\1" + REDACTED),
    (
        re.compile(r"(?i)(\bauthorization['\"]?\s*[:=]\s*['\"]?)(?!bearer\b)[^\s'\",;]+"),
        r"\1" + REDACTED,
    ),
    # The password in a URL's user information (DATABASE_URL=postgresql://user:pw@host/db).
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s/@]+@"), r"\1" + REDACTED + "@"),
    # Runway's session key, as JSON or a parameter.
    (re.compile(r"(?i)(session_?key['\"]?\s*[:=]\s*['\"]?)[^\s'\",;}]+"), r"\1" + REDACTED),
    # Token and password fields of payloads logged whole (discord.py's DEBUG gateway log prints
    # every event, and an INTERACTION_CREATE carries the interaction's token).
    (
        re.compile(r"(?i)(['\"](?:\w*token|\w*secret|password)['\"]\s*:\s*['\"])[^'\"]+"),
        r"\1" + REDACTED,
    ),
    # Shapes of tokens: Discord bot tokens and JWTs (three dotted base64 parts), Runway keys.
    (re.compile(r"\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"\bkey_[A-Za-z0-9]{16,}"), REDACTED),
)


class Redactor:
    """Replaces known secret values and secret-shaped text in log lines."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._literal: re.Pattern[str] | None = None

    def remember(self, *values: str | None) -> None:
        """Redact these values from now on (the configured tokens, keys and passwords)."""
        fresh = {value for value in values if value and len(value) >= MIN_SECRET_LENGTH}
        if fresh <= self._secrets:
            return
        self._secrets |= fresh
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._literal = re.compile("|".join(re.escape(value) for value in ordered))

    def __call__(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(REDACTED, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


REDACT: Final = Redactor()
"""The process's redactor: the log handler uses it; start-up tells it the secrets."""
