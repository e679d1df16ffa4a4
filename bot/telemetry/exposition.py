"""One scrape: the registry's metrics plus what the scrape sources read at that moment.

A scrape source is an async callable returning metric families, for values that are only
true when read (live sessions in the database, each shard's gateway latency). prometheus-
client's own custom collectors are synchronous and would have to block the event loop on the
database; sources are awaited instead, all at once, each within a deadline. A source that
fails or times out leaves its families out of that scrape and reports itself down in
`runway_characters_scrape_source_up`, so the rest of the scrape still arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.telemetry.metrics import SCRAPE_SOURCE_UP

log = logging.getLogger(__name__)

ScrapeSource = Callable[[], Awaitable[Iterable[Metric]]]
SOURCE_DEADLINE_SECONDS: Final = 5.0
"""Longer than any healthy source takes (a query of live rows), shorter than Prometheus's
default scrape timeout (10 s), so a stuck database costs its gauges, not the whole scrape."""


@dataclass(frozen=True, slots=True)
class Scrape:
    body: bytes
    content_type: str


class _Families(Collector):
    """The registry interface `generate_latest` needs, over families already gathered."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


async def scrape(
    sources: Mapping[str, ScrapeSource],
    accept: str | None,
    *,
    deadline: float = SOURCE_DEADLINE_SECONDS,
) -> Scrape:
    """Everything this process exports, in the format `accept` asks for (Prometheus's text
    format by default, OpenMetrics when asked)."""
    names = list(sources)
    results = await asyncio.gather(
        *(asyncio.wait_for(sources[name](), deadline) for name in names), return_exceptions=True
    )
    families: list[Metric] = list(REGISTRY.collect())
    up = GaugeMetricFamily(
        SCRAPE_SOURCE_UP,
        "1 if the scrape source could be read for this scrape, else 0 (its values are missing).",
        labels=["source"],
    )
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("metrics source %s failed: %r", name, result)
            up.add_metric([name], 0.0)
        else:
            families.extend(result)
            up.add_metric([name], 1.0)
    families.append(up)
    encode, content_type = choose_encoder(accept or "")
    return Scrape(encode(_Families(families)), content_type)
