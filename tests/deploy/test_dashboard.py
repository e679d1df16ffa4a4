"""The Grafana dashboard is importable and queries only metrics the bot exports.

The exported names come from the bot's own registry plus the gauges its scrape sources
declare (`bot.telemetry.metrics`); the end-to-end test checks a real scrape carries those.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.telemetry.metrics import exported_series_names

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "runway-characters.json"
# A metric name in PromQL: an identifier followed by a selector, a range, an operator or the
# end, that is not a function, keyword or label name.
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NOT_METRICS = {
    "sum", "max", "min", "count", "avg", "rate", "increase", "histogram_quantile", "time",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool",
}  # fmt: skip


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def metric_names(expr: str) -> set[str]:
    """The series an expression reads: identifiers outside label matchers, `by (...)` lists
    and quoted strings, less PromQL's own words."""
    bare = re.sub(r'"[^"]*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    return {name for name in _IDENTIFIER.findall(bare) if name not in _NOT_METRICS}


def test_it_can_be_imported(dashboard: dict[str, Any]) -> None:
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["uid"]
    assert dashboard["title"]
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"], variable["name"]) == (
        "datasource",
        "prometheus",
        "datasource",
    )
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_panel_reads_the_chosen_datasource(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip(), panel["title"]


def test_every_metric_it_queries_is_one_the_bot_exports(dashboard: dict[str, Any]) -> None:
    exported = exported_series_names()
    queried: set[str] = set()
    for panel in panels(dashboard):
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} reads no metric"
            queried |= names
    assert queried - exported == set()
    ours = {name for name in exported if name.startswith("runway_characters_")}
    # Every metric family of the bot is on the dashboard somewhere.
    families = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in ours}
    shown = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in queried}
    assert families - shown == set()


def test_the_name_reader_sees_through_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route=~"/join.*"}[5m])))'
        " / on (route) group_left b_total - time()"
    )
    assert metric_names(expr) == {"a_bucket", "b_total"}
    assert metric_names("runway_characters_no_such_thing_total") - exported_series_names()
