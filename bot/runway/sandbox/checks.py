"""Request validation that reports every problem at once, the way Runway's 400s do.

Getters for required values record an issue and hand back a placeholder when the value is
missing or wrong; callers finish with `Checker.raise_if_any`, so a placeholder never
escapes. That keeps the parsers straight-line code with precise types instead of a
`None` check after every field.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final, TypeVar

from bot.runway.sandbox.errors import Issue, SandboxError

Path = tuple[str | int, ...]

UUID_V4: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)

_ABSENT: Final = object()

T = TypeVar("T")


def json_kind(value: object) -> str:
    """The JSON type name of a decoded value, for "Expected X, received Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Checker:
    """Collects the issues found in one request."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def problem(self, path: Path, code: str, message: str) -> None:
        self.issues.append(Issue(code, path, message))

    def root(self, body: object) -> ObjectView:
        """The request body as an object; anything else cannot be checked further."""
        if not isinstance(body, dict):
            raise SandboxError(
                400,
                "Invalid request body.",
                [Issue("invalid_type", (), f"Expected object, received {json_kind(body)}")],
            )
        return ObjectView(self, body, ())

    def raise_if_any(self) -> None:
        if self.issues:
            raise SandboxError(400, "Invalid request.", self.issues)


class ObjectView:
    """Typed access to the fields of one JSON object under validation."""

    def __init__(self, checker: Checker, data: dict[str, object], path: Path) -> None:
        self._checker = checker
        self._data = data
        self._path = path

    def has(self, key: str) -> bool:
        return key in self._data

    def is_null(self, key: str) -> bool:
        return key in self._data and self._data[key] is None

    def problem(self, key: str | int, code: str, message: str) -> None:
        self._checker.problem((*self._path, key), code, message)

    def only(self, *keys: str) -> None:
        """Refuse fields the schema does not have (`additionalProperties: false`)."""
        for key in self._data:
            if key not in keys:
                self.problem(key, "unrecognized_keys", f"Unrecognized key: '{key}'")

    def require(self, key: str) -> None:
        """Record a missing required field whose value is read with an optional getter."""
        if key not in self._data:
            self.problem(key, "invalid_type", "Required")

    def text(self, key: str, *, min_len: int = 0, max_len: int | None = None) -> str:
        """A required string within the given length."""
        value = self._typed(key, str, "string", required=True)
        return "" if value is None else self._length(key, value, min_len, max_len)

    def optional_text(
        self, key: str, *, min_len: int = 0, max_len: int | None = None
    ) -> str | None:
        value = self._typed(key, str, "string", required=False)
        return None if value is None else self._length(key, value, min_len, max_len)

    def integer(self, key: str, *, minimum: int, maximum: int, default: int) -> int:
        """An optional integer within bounds, the default when absent."""
        value = self._data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, "invalid_type", f"Expected integer, received {json_kind(value)}")
            return default
        if value < minimum:
            self.problem(key, "too_small", f"Number must be greater than or equal to {minimum}")
        if value > maximum:
            self.problem(key, "too_big", f"Number must be less than or equal to {maximum}")
        return value

    def choice(self, key: str, options: Collection[str]) -> str:
        """A required string from a fixed set."""
        value = self.optional_choice(key, options)
        if value is None and not self.has(key):
            self.problem(key, "invalid_type", "Required")
        return value or ""

    def optional_choice(self, key: str, options: Collection[str]) -> str | None:
        value = self._typed(key, str, "string", required=False)
        if value is None or value in options:
            return value
        expected = " | ".join(f"'{option}'" for option in options)
        self.problem(
            key,
            "invalid_enum_value",
            f"Invalid enum value. Expected {expected}, received '{value}'",
        )
        return None

    def uuid(self, key: str) -> str:
        """A required version-4 UUID, the only kind of id Runway hands out."""
        value = self.text(key)
        if value and not UUID_V4.fullmatch(value):
            self.problem(key, "invalid_string", "Invalid uuid")
        return value

    def uuid_list(self, key: str, *, max_items: int) -> tuple[str, ...] | None:
        items = self._typed(key, list, "array", required=False)
        if items is None:
            return None
        if len(items) > max_items:
            self.problem(key, "too_big", f"Array must contain at most {max_items} element(s)")
        path = (*self._path, key)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                self._checker.problem(
                    (*path, index), "invalid_type", f"Expected string, received {json_kind(item)}"
                )
            elif not UUID_V4.fullmatch(item):
                self._checker.problem((*path, index), "invalid_string", "Invalid uuid")
        return tuple(item for item in items if isinstance(item, str))

    def array(self, key: str, *, max_items: int) -> None:
        """An optional array checked only for its length (its items are not emulated)."""
        items = self._typed(key, list, "array", required=False)
        if items is not None and len(items) > max_items:
            self.problem(key, "too_big", f"Array must contain at most {max_items} element(s)")

    def child(self, key: str) -> ObjectView | None:
        """A required nested object; None (with an issue recorded) when absent or not one."""
        value = self._typed(key, dict, "object", required=True)
        return None if value is None else ObjectView(self._checker, value, (*self._path, key))

    def _typed(self, key: str, kind: type[T], name: str, *, required: bool) -> T | None:
        value = self._data.get(key, _ABSENT)
        if value is _ABSENT:
            if required:
                self.problem(key, "invalid_type", "Required")
            return None
        if isinstance(value, kind):
            return value
        self.problem(key, "invalid_type", f"Expected {name}, received {json_kind(value)}")
        return None

    def _length(self, key: str, value: str, min_len: int, max_len: int | None) -> str:
        if len(value) < min_len:
            self.problem(key, "too_small", f"String must contain at least {min_len} character(s)")
        if max_len is not None and len(value) > max_len:
            self.problem(key, "too_big", f"String must contain at most {max_len} character(s)")
        return value
