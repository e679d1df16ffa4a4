"""`/metrics` on a real aiohttp server: off unless asked for, token-protected on the join port,
alone on a port of its own; and what the join routes count, by route template and outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from pydantic import SecretStr

from bot.services.join_types import JoinState
from bot.web.metrics import MetricsEndpoint, build_metrics_app
from bot.web.security import JoinRateLimits, Rate

TOKEN = "metrics-token-for-tests-0123456789"
JOIN = {"X-Join": "1", "Sec-Fetch-Site": "same-origin"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def joins(route: str, outcome: str) -> float:
    return sample("runway_characters_join_requests_total", route=route, outcome=outcome)


async def test_without_a_metrics_endpoint_there_is_no_metrics_route(make_client):
    client = await make_client()

    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status == 404


async def test_on_the_join_port_only_the_right_bearer_token_reads_metrics(make_client):
    client = await make_client(metrics=MetricsEndpoint(SecretStr(TOKEN)))

    missing = await client.get("/metrics")
    wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    basic = await client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    bare = await client.get("/metrics", headers={"Authorization": TOKEN})
    right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    for refused in (missing, wrong, basic, bare):
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "runway_characters" not in await refused.text()
    assert right.status == 200
    assert right.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert right.headers["Cache-Control"] == "no-store"
    body = await right.text()
    assert 'runway_characters_session_refusals_total{limit="member_live"}' in body
    assert "process_resident_memory_bytes" in body
    assert TOKEN not in body


async def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(make_client):
    client = await make_client(metrics=MetricsEndpoint(SecretStr(TOKEN)))

    response = await client.get(
        "/metrics",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/openmetrics-text; version=1.0.0",
        },
    )

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await response.text()).rstrip().endswith("# EOF")


async def test_a_port_of_its_own_serves_metrics_and_nothing_else():
    server = TestServer(build_metrics_app(MetricsEndpoint(None)), host="127.0.0.1")
    async with TestClient(server) as client:
        metrics = await client.get("/metrics")
        body = await metrics.text()
        health = await client.get("/healthz")
        join = await client.get("/join/" + "a" * 32)

    assert metrics.status == 200
    assert "runway_characters_join_requests" in body
    assert (health.status, join.status) == (404, 404)


async def test_a_port_of_its_own_still_checks_a_token_when_one_is_set():
    server = TestServer(build_metrics_app(MetricsEndpoint(SecretStr(TOKEN))), host="127.0.0.1")
    async with TestClient(server) as client:
        missing = await client.get("/metrics")
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert (missing.status, right.status) == (401, 200)


async def test_a_failing_or_stuck_source_costs_only_its_own_values(make_client, monkeypatch):
    monkeypatch.setattr("bot.telemetry.exposition.SOURCE_DEADLINE_SECONDS", 0.2)
    endpoint = MetricsEndpoint(SecretStr(TOKEN))

    async def healthy() -> Iterable[Metric]:
        return [GaugeMetricFamily("runway_characters_test_value", "A test value.", value=7)]

    async def broken() -> Iterable[Metric]:
        raise RuntimeError("database is gone")

    async def stuck() -> Iterable[Metric]:
        await asyncio.sleep(60)
        return []

    endpoint.add_source("healthy", healthy)
    endpoint.add_source("broken", broken)
    endpoint.add_source("stuck", stuck)
    client = await make_client(metrics=endpoint)

    body = await (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text()

    assert "runway_characters_test_value 7.0" in body
    assert 'runway_characters_scrape_source_up{source="healthy"} 1.0' in body
    assert 'runway_characters_scrape_source_up{source="broken"} 0.0' in body
    assert 'runway_characters_scrape_source_up{source="stuck"} 0.0' in body


async def test_join_requests_are_counted_by_route_template_and_outcome(make_client, backend):
    client = await make_client()
    usable = backend.issue()
    expired = backend.issue(state=JoinState.EXPIRED)
    page, credentials = "/join/{code}", "/join/{code}/credentials"
    before = {
        (page, "ok"): joins(page, "ok"),
        (page, "expired"): joins(page, "expired"),
        (page, "invalid"): joins(page, "invalid"),
        (credentials, "ok"): joins(credentials, "ok"),
        (credentials, "used_elsewhere"): joins(credentials, "used_elsewhere"),
        (credentials, "forbidden"): joins(credentials, "forbidden"),
    }

    assert (await client.get(f"/join/{usable}")).status == 200
    assert (await client.get(f"/join/{expired}")).status == 410
    assert (await client.get("/join/never-issued-code-0123456789")).status == 404
    assert (await client.post(f"/join/{usable}/credentials", headers=JOIN, json={})).status == 200
    assert (await client.post(f"/join/{usable}/credentials", headers=JOIN, json={})).status == 404
    assert (await client.post(f"/join/{usable}/credentials", json={})).status == 403
    assert (await client.get("/healthz")).status == 200

    after = {key: joins(*key) for key in before}
    assert {key: after[key] - before[key] for key in before} == {
        (page, "ok"): 1,
        (page, "expired"): 1,
        (page, "invalid"): 1,
        (credentials, "ok"): 1,
        (credentials, "used_elsewhere"): 1,
        (credentials, "forbidden"): 1,
    }


async def test_no_join_code_ever_reaches_a_label(make_client, backend):
    endpoint = MetricsEndpoint(SecretStr(TOKEN))
    client = await make_client(metrics=endpoint)
    code = backend.issue()
    await client.get(f"/join/{code}")
    await client.get(f"/join/{code}/picture")
    await client.get(f"/join/{code}/nowhere")

    body = await (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text()

    assert code not in body
    assert 'route="/join/{code}/picture"' in body
    assert 'route="unmatched"' in body


async def test_rate_limit_refusals_are_counted_apart(make_client, backend):
    client = await make_client(rate_limits=JoinRateLimits(page=Rate(2, 60)))
    code = backend.issue()
    route = "/join/{code}"
    limited_before = sample("runway_characters_join_rate_limited_total", route=route)
    outcome_before = joins(route, "rate_limited")

    statuses = [(await client.get(f"/join/{code}")).status for _ in range(4)]

    assert statuses == [200, 200, 429, 429]
    assert sample("runway_characters_join_rate_limited_total", route=route) - limited_before == 2
    assert joins(route, "rate_limited") - outcome_before == 2
