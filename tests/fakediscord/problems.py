"""Why Discord refuses a request body, and the `errors` object it answers with.

Discord answers an invalid body with HTTP 400, code 50035 "Invalid Form Body" and an
`errors` object that mirrors the body: each offending field holds `_errors`, a list of
`{code, message}` ("API Reference > Error Messages"). The fake answers the same way, so the
bot meets in a test exactly what it would meet in production, and a test failure names
the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PathPart = str | int


@dataclass(frozen=True)
class Problem:
    """One reason a body would be refused: where, Discord's error code, and why."""

    path: tuple[PathPart, ...]
    code: str
    message: str

    def __str__(self) -> str:
        return f"{json_path(self.path)}: {self.message}"


def json_path(path: Iterable[PathPart]) -> str:
    """`$.data.embeds[0].title` for ("data", "embeds", 0, "title")."""
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def errors_object(problems: Iterable[Problem]) -> dict[str, Any]:
    """Discord's nested `errors`: {"data": {"embeds": {"0": {"title": {"_errors": [...]}}}}}."""
    root: dict[str, Any] = {}
    for problem in problems:
        node = root
        for part in problem.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": problem.code, "message": problem.message})
    return root
