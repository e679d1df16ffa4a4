"""Each gateway shard's heartbeat latency and whether it is connected, and how many shards
of the cluster no process runs, read at scrape time.

Only a process with a gateway connection registers this source, so a web-only process
exports no gateway series at all. The `shard` label is bounded by the shard count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import discord
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from bot.services.shard_claims import ShardClaims
from bot.telemetry.exposition import ScrapeSource
from bot.telemetry.metrics import GATEWAY_LATENCY, GATEWAY_SHARD_UP, GATEWAY_SHARDS_UNCLAIMED


def gateway_source(client: discord.AutoShardedClient, claims: ShardClaims) -> ScrapeSource:
    async def collect() -> Iterable[Metric]:
        latency = GaugeMetricFamily(
            GATEWAY_LATENCY,
            "Time between a shard's last gateway heartbeat and Discord's acknowledgement.",
            labels=["shard"],
        )
        # Not a number until a shard's first heartbeat is acknowledged: left out till then.
        for shard_id, seconds in client.latencies:
            if math.isfinite(seconds):
                latency.add_metric([str(shard_id)], seconds)
        up = GaugeMetricFamily(
            GATEWAY_SHARD_UP,
            "1 while a shard this process runs is connected to the gateway, else 0.",
            labels=["shard"],
        )
        for shard_id, shard in client.shards.items():
            up.add_metric([str(shard_id)], 0.0 if shard.is_closed() else 1.0)
        unclaimed = GaugeMetricFamily(
            GATEWAY_SHARDS_UNCLAIMED,
            "Shards of the bot's shard count that no live process has claimed (the "
            "database's view, the same from every bot process).",
        )
        unclaimed.add_metric([], float(len((await claims.coverage()).missing)))
        return [latency, up, unclaimed]

    return collect
