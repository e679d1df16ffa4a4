"""One SQL text for both engines: the parameter translation, the per-engine named queries
and the row type."""

from __future__ import annotations

import pytest

from bot.storage.rows import make_row
from bot.storage.sql import Engine, engine_sql, to_pyformat


@pytest.mark.parametrize(
    ("ours", "psycopg"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("UPDATE t SET a = :a WHERE id = :id", "UPDATE t SET a = %(a)s WHERE id = %(id)s"),
        # casts, literals, quoted names and comments are left alone; every % is doubled
        (
            "SELECT :names::json, '::x :y ?', \"col:z\"",
            "SELECT %(names)s::json, '::x :y ?', \"col:z\"",
        ),
        (
            "SELECT 'it''s :not' WHERE a LIKE 'x%' -- :no ?\n AND b = :b",
            "SELECT 'it''s :not' WHERE a LIKE 'x%%' -- :no ?\n AND b = %(b)s",
        ),
        ("SELECT 5 % 3, /* :c ? */ :d", "SELECT 5 %% 3, /* :c ? */ %(d)s"),
        (
            "SELECT CASE WHEN :set_a THEN :a ELSE a END",
            "SELECT CASE WHEN %(set_a)s THEN %(a)s ELSE a END",
        ),
    ],
)
def test_statements_are_translated_to_psycopgs_style(ours: str, psycopg: str) -> None:
    assert to_pyformat(ours) == psycopg


def test_mixing_parameter_styles_is_refused() -> None:
    with pytest.raises(ValueError, match="either"):
        to_pyformat("SELECT ? , :a")


def test_a_named_query_has_a_text_for_each_engine() -> None:
    query = engine_sql("quota_records")
    assert "json_group_object" in query.text(Engine.SQLITE)
    assert "json_object_agg" in query.text(Engine.POSTGRES)
    with pytest.raises(LookupError, match="no_such_query"):
        engine_sql("no_such_query")


def test_rows_read_by_position_and_by_name() -> None:
    row = make_row(("id", "name", "id"), (7, "Ada", 8))
    assert row[0] == 7
    assert row["name"] == "Ada"
    assert row["id"] == 7  # the first of a repeated name, as sqlite3.Row
    assert tuple(row) == (7, "Ada", 8)
    assert row == (7, "Ada", 8)
    assert row.keys() == ("id", "name", "id")
    guild, name, _ = row
    assert (guild, name) == (7, "Ada")
    with pytest.raises(IndexError, match="no column named 'missing'"):
        row["missing"]
