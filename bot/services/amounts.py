"""Limits as admins type and read them: "10" (minutes), "1h30", "45s", "3", "unlimited".

Time limits are stored in seconds and typed in minutes unless a unit says otherwise; counts are
whole numbers. "unlimited" removes a limit; 0 allows none.
"""

from __future__ import annotations

import re
from typing import Final

from bot.clip import clip
from bot.errors import InvalidInput
from bot.services.durations import duration_text
from bot.storage.quotas import QuotaName

TIME_LIMITS: Final = frozenset(
    {
        QuotaName.GUILD_DAY,
        QuotaName.GUILD_MONTH,
        QuotaName.MEMBER_DAY,
        QuotaName.COOLDOWN,
        QuotaName.SESSION,
        QuotaName.VIDEO_GUILD_DAY,
        QuotaName.VIDEO_MEMBER_DAY,
        QuotaName.VIDEO_COOLDOWN,
    }
)

LABELS: Final = {
    QuotaName.MAX_AVATARS: "Avatars in the server",
    QuotaName.GUILD_DAY: "Server call time per day",
    QuotaName.GUILD_MONTH: "Server call time per month",
    QuotaName.MEMBER_DAY: "Call time per member per day",
    QuotaName.GUILD_LIVE: "Live calls at once in the server",
    QuotaName.MEMBER_LIVE: "Live calls at once per member",
    QuotaName.COOLDOWN: "Wait between a member's calls",
    QuotaName.SESSION: "Longest call",
    QuotaName.VIDEO_GUILD_DAY: "Server video time per day",
    QuotaName.VIDEO_MEMBER_DAY: "Video time per member per day",
    QuotaName.VIDEO_COOLDOWN: "Wait between a member's videos",
}

UNLIMITED_WORDS: Final = frozenset({"unlimited", "no limit", "nolimit", "infinite", "∞"})

_UNIT_SECONDS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:[.,]\d+)?)(days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)?")


def parse_amount(name: QuotaName, text: str) -> int | None:
    """The stored value for what an admin typed (None: no limit); InvalidInput if unreadable."""
    typed = " ".join(text.strip().casefold().split())
    if typed in UNLIMITED_WORDS:
        return None
    if name in TIME_LIMITS:
        seconds = _duration_seconds(typed)
        if seconds is None:
            raise InvalidInput(
                f"I could not read {clip(text, 40)!r} as a duration: type minutes (`10`), or with "
                "units (`1h30`, `90 min`, `45s`), or `unlimited`."
            )
        return seconds
    if not typed.isdigit():
        raise InvalidInput(f"{LABELS[name]} takes a whole number (0: none) or `unlimited`.")
    return int(typed)


def _duration_seconds(typed: str) -> int | None:
    """Sum of `<number><unit>` parts; a bare number means minutes, or the unit below the one
    before it ("1h30" is 1 h 30 min)."""
    position, total, previous_unit = 0, 0.0, ""
    compact = typed.replace(" ", "")
    if not compact:
        return None
    while position < len(compact):
        match = _PART.match(compact, position)
        if match is None or match.end() == position:
            return None
        number = float(match[1].replace(",", "."))
        unit = (match[2] or _unit_after(previous_unit))[0]
        total += number * _UNIT_SECONDS[unit]
        previous_unit = unit
        position = match.end()
    return round(total)


def _unit_after(unit: str) -> str:
    return {"d": "h", "h": "m", "m": "s"}.get(unit, "m")


def describe(name: QuotaName, value: int | None) -> str:
    """A limit's value as the server's admins and members read it."""
    if value is None:
        return "unlimited"
    if value == 0:
        return (
            "no wait" if name in (QuotaName.COOLDOWN, QuotaName.VIDEO_COOLDOWN) else "none allowed"
        )
    return duration_text(value) if name in TIME_LIMITS else str(value)
