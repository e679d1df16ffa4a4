"""The avatar's picture on the join page, over real HTTP on loopback with a fake backend.

The picture is served by the bot itself (the page's CSP allows images from 'self' only), for
a link that can still be used; a used, expired or unknown link gets the same 404, after the
same delay, so nobody learns whose link it was. Nothing here ever consumes a code.
"""

from __future__ import annotations

import logging
import time

import pytest

from bot.services.join_types import JoinState
from bot.web.join import REFUSAL_FLOOR_SECONDS
from bot.web.security import JoinRateLimits, Rate
from tests.web.fake_backend import FakeBackend

FACE = b"\xff\xd8\xff\xe0 a stand-in for the bot's own JPEG"


async def test_the_page_shows_the_picture_beside_the_name(make_client, backend):
    code = backend.issue(avatar_name="Nova", picture=FACE)
    client = await make_client()

    text = await (await client.get(f"/join/{code}")).text()

    assert f'<img id="portrait" src="/join/{code}/picture" alt=""' in text
    assert '<span class="monogram">N</span>' in text
    assert text.index('id="portrait"') < text.index('<h1 id="title"')


async def test_the_picture_is_served_by_the_bot_without_using_the_link(make_client, backend):
    code = backend.issue(picture=FACE)
    client = await make_client()

    for _ in range(3):
        response = await client.get(f"/join/{code}/picture")
        assert response.status == 200
        assert await response.read() == FACE

    assert response.content_type == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "img-src 'self' data:" in response.headers["Content-Security-Policy"]
    assert backend.calls_to("redeem") == []
    assert backend.codes[code].state is JoinState.OK


async def test_a_preset_shows_its_initial_and_asks_for_no_picture(make_client, backend):
    code = backend.issue(avatar_name="Cat Character (Runway preset)")
    client = await make_client()

    text = await (await client.get(f"/join/{code}")).text()

    assert '<img id="portrait" src="" alt=""' in text
    assert '<span class="monogram">C</span>' in text
    assert (await client.get(f"/join/{code}/picture")).status == 404


@pytest.mark.parametrize("state", [JoinState.USED, JoinState.EXPIRED, JoinState.ENDED])
async def test_a_link_that_no_longer_works_shows_no_picture(make_client, backend, state):
    dead = backend.issue(state=state, picture=FACE)
    unknown = FakeBackend().issue(picture=FACE)  # well-formed, never issued here
    client = await make_client()

    answers = []
    for code in (dead, unknown):
        started = time.monotonic()
        response = await client.get(f"/join/{code}/picture")
        answers.append((response.status, await response.read(), time.monotonic() - started))

    (dead_status, dead_body, dead_time), (unknown_status, unknown_body, unknown_time) = answers
    assert dead_status == unknown_status == 404
    assert dead_body == unknown_body
    assert FACE not in dead_body
    assert min(dead_time, unknown_time) >= REFUSAL_FLOOR_SECONDS
    assert abs(dead_time - unknown_time) < 0.1


async def test_a_malformed_code_does_not_reach_the_backend(make_client, backend):
    client = await make_client()

    response = await client.get("/join/short/picture")

    assert response.status == 404
    assert backend.calls == []


async def test_pictures_are_rate_limited_per_address(make_client, backend):
    code = backend.issue(picture=FACE)
    client = await make_client(rate_limits=JoinRateLimits(picture=Rate(2, 60)))

    statuses = [(await client.get(f"/join/{code}/picture")).status for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert len(backend.calls_to("picture")) == 2


async def test_a_failing_backend_answers_500_and_logs_no_code(make_client, backend, caplog):
    code = backend.issue(picture=FACE)
    client = await make_client()
    backend.error = RuntimeError(f"picture store failed for {code}")

    with caplog.at_level(logging.DEBUG):
        response = await client.get(f"/join/{code}/picture")

    assert response.status == 500
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "picture store failed for <code>" in logged
    assert code not in logged
