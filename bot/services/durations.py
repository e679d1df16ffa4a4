"""Durations as people read them, shared by the services' messages and the cogs' replies."""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """`3 h 12 min`, `4 min 5 s`, `12 s`: the largest unit and the next, all a reader needs."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    first = next((index for index, (value, _) in enumerate(parts) if value), len(parts) - 1)
    shown = [f"{value} {unit}" for value, unit in parts[first : first + 2] if value]
    return " ".join(shown) or "0 s"
