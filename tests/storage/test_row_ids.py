"""Row ids from members' text: only what SQLite can hold, and only ASCII digits."""

from __future__ import annotations

import pytest

from bot.storage import row_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        (" 42 ", 42),
        (str(2**63 - 1), 2**63 - 1),
        (str(2**63), None),
        ("99999999999999999999", None),
        ("0", None),
        ("-5", None),
        ("+5", None),
        ("1e3", None),
        ("²", None),
        ("١٢", None),  # Arabic-Indic digits: int() would accept them
        ("", None),
        (7, 7),
        (0, None),
        (2**64, None),
    ],
)
def test_row_id(value: str | int, expected: int | None) -> None:
    assert row_id(value) == expected
