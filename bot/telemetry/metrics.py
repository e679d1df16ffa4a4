"""Every Prometheus metric the bot exports, named in this one module.

Counters and histograms live in prometheus-client's default registry, beside the process and
Python collectors it brings (memory, CPU, open files, garbage collection). Values that only
mean something when read at scrape time (live sessions from the database, gateway latency per
shard) come from scrape sources (`bot.telemetry.exposition`); their names are declared here
as well, so the dashboard test can check it queries only what exists.

Conventions: the `runway_characters_` prefix, base units in names (`_seconds`), `_total` on
counters (prometheus-client appends it), and label values from small fixed sets: a route
template, never an id; a limit's name, never a guild's. This module imports nothing of the
bot, so every layer may record into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics

# One `_created` series per counter child doubles the series count and tells an operator
# nothing that `process_start_time_seconds` does not.
disable_created_metrics()  # type: ignore[no-untyped-call]

PREFIX: Final = "runway_characters_"

LIMITS: Final = (
    "session_length",
    "member_day",
    "guild_day",
    "guild_month",
    "cooldown",
    "member_live",
    "guild_live",
    "account_live",
)
"""The limits a session start can be refused by (`QuotaPolicy.refusals`); any other name is
counted as `other`, so a limit added later shows up without growing the label set unseen."""
OTHER: Final = "other"

# Buckets: seconds, chosen for what each thing takes when healthy and when not.
_DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_HTTP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_SWEEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_JOIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

BUILD_INFO = Gauge(
    PREFIX + "build_info",
    "Always 1; its labels say which version of the bot this process runs.",
    ["version"],
)

SESSION_ADMISSIONS = Counter(
    PREFIX + "session_admissions",
    "Session starts every limit admitted (a reservation was written).",
)
SESSION_REFUSALS = Counter(
    PREFIX + "session_refusals",
    "Session starts refused, by the limit that refused them.",
    ["limit"],
)
SESSIONS_ENDED = Counter(
    PREFIX + "sessions_ended",
    "Sessions that ended (settled or released), by end reason.",
    ["reason"],
)
SETTLED_SECONDS = Counter(
    PREFIX + "session_settled_seconds",
    "Call seconds charged to servers by settling sessions (what Runway bills).",
)

RUNWAY_REQUESTS = Histogram(
    PREFIX + "runway_request_duration_seconds",
    "Requests to Runway's API, one per attempt, by method, route template and status "
    "(`error` when no answer came).",
    ["method", "route", "status"],
    buckets=_HTTP_BUCKETS,
)

TRACKER_SWEEP = Histogram(
    PREFIX + "tracker_sweep_duration_seconds",
    "How long one sweep of the session tracker over every live session took.",
    buckets=_SWEEP_BUCKETS,
)
TRACKER_LAST_SWEEP = Gauge(
    PREFIX + "tracker_last_sweep_timestamp_seconds",
    "When this process's tracker last finished a sweep (unix time; 0: never).",
)
TRACKER_LEADER = Gauge(
    PREFIX + "tracker_leader",
    "1 while this process's tracker follows and settles sessions, else 0.",
)

JOIN_REQUESTS = Counter(
    PREFIX + "join_requests",
    "Requests to the join pages, by route template and outcome.",
    ["route", "outcome"],
)
JOIN_DURATION = Histogram(
    PREFIX + "join_request_duration_seconds",
    "How long the join routes took to answer, by route template.",
    ["route"],
    buckets=_JOIN_BUCKETS,
)
JOIN_RATE_LIMITED = Counter(
    PREFIX + "join_rate_limited",
    "Join-page requests refused by the per-address rate limit, by route template.",
    ["route"],
)

DB_TRANSACTIONS = Histogram(
    PREFIX + "db_transaction_duration_seconds",
    "Database work as the caller waits for it (queueing included), by engine and kind: "
    "write transactions, long reads, quick lookups.",
    ["engine", "kind"],
    buckets=_DB_BUCKETS,
)

# Read at scrape time (see bot.telemetry.exposition): declared here, made by their sources.
LIVE_SESSIONS: Final = PREFIX + "live_sessions"
TRACKER_OVERDUE: Final = PREFIX + "tracker_overdue_seconds"
INTENTS_UNRESOLVED: Final = PREFIX + "intents_unresolved"
GATEWAY_LATENCY: Final = PREFIX + "gateway_latency_seconds"
GATEWAY_SHARD_UP: Final = PREFIX + "gateway_shard_up"
GATEWAY_SHARDS_UNCLAIMED: Final = PREFIX + "gateway_shards_unclaimed"
SCRAPE_SOURCE_UP: Final = PREFIX + "scrape_source_up"
SCRAPE_TIME_GAUGES: Final = (
    LIVE_SESSIONS,
    TRACKER_OVERDUE,
    INTENTS_UNRESOLVED,
    GATEWAY_LATENCY,
    GATEWAY_SHARD_UP,
    GATEWAY_SHARDS_UNCLAIMED,
    SCRAPE_SOURCE_UP,
)

for _limit in (*LIMITS, OTHER):
    SESSION_REFUSALS.labels(limit=_limit)  # present at 0, so rate() sees the first refusal


def refused(limit: str) -> None:
    """Count a start refused by `limit` (a name outside LIMITS is counted as `other`)."""
    SESSION_REFUSALS.labels(limit=limit if limit in LIMITS else OTHER).inc()


@dataclass(frozen=True, slots=True)
class TransactionTimers:
    """One engine's transaction histograms, looked up once (labels() costs a dict lookup
    and a lock; the write path pays neither)."""

    write: Histogram
    read: Histogram
    lookup: Histogram


def transaction_timers(engine: str) -> TransactionTimers:
    """The histograms a database engine times its work with: `with timers.write.time(): ...`."""
    return TransactionTimers(
        write=DB_TRANSACTIONS.labels(engine=engine, kind="write"),
        read=DB_TRANSACTIONS.labels(engine=engine, kind="read"),
        lookup=DB_TRANSACTIONS.labels(engine=engine, kind="lookup"),
    )


_SUFFIXES: Final = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "info": ("_info",),
    "summary": ("", "_count", "_sum"),
}


def exported_series_names() -> frozenset[str]:
    """Every series name a scrape of this bot can carry: the registry's (ours and the process
    and Python collectors') and the scrape-time gauges."""
    names = set(SCRAPE_TIME_GAUGES)
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return frozenset(names)
