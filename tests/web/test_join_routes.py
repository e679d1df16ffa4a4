"""The join routes over real HTTP on loopback: pages, credentials, end reports, assets."""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import time

import pytest

from bot.services.join_types import JoinState
from bot.web.join import REFUSAL_FLOOR_SECONDS
from bot.web.security import JoinRateLimits, Rate
from tests.web.conftest import LIVEKIT_ORIGIN
from tests.web.fake_backend import FakeBackend

JOIN = {"X-Join": "1"}


async def test_page_shows_avatar_limit_and_join_button_without_consuming(make_client, backend):
    code = backend.issue(avatar_name="Nova", max_seconds=240)
    client = await make_client()

    response = await client.get(f"/join/{code}")
    text = await response.text()

    assert response.status == 200
    assert response.content_type == "text/html"
    assert "Talk to Nova" in text
    assert "4 minutes" in text
    assert '<button id="join"' in text
    assert f'data-credentials-url="/join/{code}/credentials"' in text
    assert 'src="/static/vendor/livekit-client.js?v=2.99.0"' in text
    assert "<script>" not in text  # nothing inline: the CSP would block it
    assert backend.calls == [("view", code)]


async def test_page_says_runway_may_stop_at_five_minutes_when_more_was_asked(make_client, backend):
    code = backend.issue(max_seconds=900)
    client = await make_client()

    text = await (await client.get(f"/join/{code}")).text()

    assert "15 minutes (Runway may end calls at about 5 minutes)" in text


async def test_avatar_name_is_escaped(make_client, backend):
    code = backend.issue(avatar_name='<img src=x onerror="alert(1)">')
    client = await make_client()

    text = await (await client.get(f"/join/{code}")).text()

    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text


async def test_reloading_the_page_never_consumes(make_client, backend):
    code = backend.issue()
    client = await make_client()

    for _ in range(3):
        assert (await client.get(f"/join/{code}")).status == 200

    assert backend.calls_to("redeem") == []
    assert backend.codes[code].state is JoinState.OK


@pytest.mark.parametrize(
    ("state", "status", "words"),
    [
        (JoinState.USED, 404, "This link has already been used or is not valid."),
        (JoinState.EXPIRED, 410, "This link has expired"),
        (JoinState.ENDED, 409, "This session has ended"),
    ],
)
async def test_refused_pages_say_what_to_do(make_client, backend, state, status, words):
    code = backend.issue(state=state)
    client = await make_client()

    response = await client.get(f"/join/{code}")
    text = await response.text()

    assert response.status == status
    assert words in text
    assert "run /session start in Discord" in text
    assert "Join call" not in text


async def test_used_and_unknown_codes_look_and_time_the_same(make_client, backend):
    used = backend.issue(state=JoinState.USED)
    unknown = FakeBackend().issue()  # well-formed, never issued here
    client = await make_client()

    answers = []
    for code in (used, unknown):
        started = time.monotonic()
        response = await client.get(f"/join/{code}")
        answers.append((response.status, await response.text(), time.monotonic() - started))

    (used_status, used_text, used_time), (unknown_status, unknown_text, unknown_time) = answers
    assert used_status == unknown_status == 404
    assert used_text == unknown_text
    assert used_time >= REFUSAL_FLOOR_SECONDS
    assert unknown_time >= REFUSAL_FLOOR_SECONDS
    assert abs(used_time - unknown_time) < 0.1


@pytest.mark.parametrize(
    "code",
    ["short", "x" * 21, "a" * 129, "bad*chars-but-long-enough!!", "..%2F..%2Fetc%2Fpasswd-abcdef"],
)
async def test_malformed_codes_get_the_unknown_page_without_asking_the_backend(
    make_client, backend, code
):
    unknown = FakeBackend().issue()
    client = await make_client()

    response = await client.get(f"/join/{code}")
    reference = await client.get(f"/join/{unknown}")

    assert response.status == 404
    assert await response.text() == await reference.text()
    assert backend.calls == [("view", unknown)]


async def test_credentials_are_handed_out_once(make_client, backend):
    code = backend.issue(avatar_name="Nova", url=LIVEKIT_ORIGIN, token="tok-1", max_seconds=300)
    issued = backend.codes[code].credentials
    client = await make_client()

    first = await client.post(f"/join/{code}/credentials", headers=JOIN)
    second = await client.post(f"/join/{code}/credentials", headers=JOIN)

    assert first.status == 200
    body = await first.json()
    assert body == {
        "url": LIVEKIT_ORIGIN,
        "token": "tok-1",
        "roomName": issued.room_name,
        "endsAt": issued.ends_at,
        "maxSeconds": 300,
        "avatarName": "Nova",
        "serverNow": pytest.approx(time.time(), abs=5),
    }
    assert second.status == 404
    assert await second.json() == {
        "state": "used_elsewhere",
        "message": "This link was already used in another browser, so it can't be used here. "
        "If that was you and the call is lost: run /session end in Discord, then "
        "/session start for a new link.",
    }


SECRET = "A" * 43


async def test_the_browser_that_joined_can_join_again_and_no_other(make_client, backend):
    code = backend.issue(token="tok-1")
    client = await make_client()

    first = await client.post(f"/join/{code}/credentials", headers=JOIN, json={"secret": SECRET})
    again = await client.post(f"/join/{code}/credentials", headers=JOIN, json={"secret": SECRET})
    other = await client.post(f"/join/{code}/credentials", headers=JOIN, json={"secret": "B" * 43})
    page = await client.get(f"/join/{code}")

    assert (first.status, again.status, other.status) == (200, 200, 404)
    assert (await again.json())["token"] == "tok-1"
    assert (await other.json())["state"] == "used_elsewhere"
    assert page.status == 200
    assert 'data-in-use="true"' in await page.text()


async def test_a_rejoin_while_the_first_request_waits_on_runway_is_told_to_wait(
    make_client, backend
):
    code = backend.issue()
    backend.redeem_delay = 1.0
    client = await make_client()
    first = asyncio.create_task(
        client.post(f"/join/{code}/credentials", headers=JOIN, json={"secret": SECRET})
    )
    await asyncio.sleep(0.3)

    waiting = await client.post(f"/join/{code}/credentials", headers=JOIN, json={"secret": SECRET})

    assert waiting.status == 202
    assert (await waiting.json())["state"] == "warming"
    assert (await first).status == 200


async def test_unknown_and_malformed_codes_get_the_same_credentials_answer(make_client, backend):
    """A used code is told apart (its holder may be its owner, who needs the next step:
    /session end); one never issued and one malformed look the same."""
    used = backend.issue(state=JoinState.USED)
    client = await make_client()

    answers = []
    for code in (used, FakeBackend().issue(), "malformed"):
        response = await client.post(f"/join/{code}/credentials", headers=JOIN)
        answers.append((response.status, await response.json()))

    assert answers[0][1]["state"] == "used_elsewhere"
    assert (
        answers[1]
        == answers[2]
        == (
            404,
            {"state": "invalid", "message": "This link has already been used or is not valid."},
        )
    )


@pytest.mark.parametrize(
    ("state", "status", "public"),
    [
        (JoinState.EXPIRED, 410, "expired"),
        (JoinState.ENDED, 409, "ended"),
        (JoinState.FAILED, 409, "failed"),
    ],
)
async def test_credentials_refused_for_expired_ended_and_failed(
    make_client, backend, state, status, public
):
    code = backend.issue(state=state)
    client = await make_client()

    response = await client.post(f"/join/{code}/credentials", headers=JOIN)

    assert response.status == status
    assert (await response.json())["state"] == public


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Join": "0"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"X-Join": "1", "Sec-Fetch-Site": "cross-site"},
        {"X-Join": "1", "Sec-Fetch-Site": "same-site"},
    ],
)
async def test_credentials_need_the_pages_own_request(make_client, backend, headers):
    code = backend.issue()
    client = await make_client()

    response = await client.post(f"/join/{code}/credentials", headers=headers, data="a=b")

    assert response.status == 403
    assert (await response.json())["state"] == "forbidden"
    assert backend.calls_to("redeem") == []


async def test_credentials_accept_same_origin_fetch(make_client, backend):
    code = backend.issue()
    client = await make_client()

    response = await client.post(
        f"/join/{code}/credentials", headers={**JOIN, "Sec-Fetch-Site": "same-origin"}
    )

    assert response.status == 200


async def test_credentials_failure_gives_an_error_id(make_client, backend, caplog):
    code = backend.issue()
    backend.error = RuntimeError("runway exploded")
    client = await make_client()

    with caplog.at_level(logging.ERROR):
        response = await client.post(f"/join/{code}/credentials", headers=JOIN)

    assert response.status == 500
    body = await response.json()
    error_id = re.search(r"error id ([0-9a-f]{8})", body["message"])
    assert error_id is not None
    assert error_id.group(1) in caplog.text
    assert "runway exploded" in caplog.text


async def test_ended_is_reported_to_the_backend(make_client, backend):
    code = backend.issue()
    client = await make_client()

    response = await client.post(f"/join/{code}/ended", headers=JOIN, json={"reason": "time_limit"})

    assert response.status == 204
    assert backend.ended_reasons == [(code, "time_limit")]


@pytest.mark.parametrize("body", [{"reason": "bored"}, {}, ["member_ended"], "not json"])
async def test_ended_refuses_unknown_reasons(make_client, backend, body):
    code = backend.issue()
    client = await make_client()

    if isinstance(body, str):
        response = await client.post(f"/join/{code}/ended", headers=JOIN, data=body)
    else:
        response = await client.post(f"/join/{code}/ended", headers=JOIN, json=body)

    assert response.status == 400
    assert backend.ended_reasons == []


async def test_ended_needs_the_pages_own_request(make_client, backend):
    code = backend.issue()
    client = await make_client()

    response = await client.post(f"/join/{code}/ended", json={"reason": "member_ended"})

    assert response.status == 403
    assert backend.ended_reasons == []


async def test_ended_with_malformed_code_does_not_reach_the_backend(make_client, backend):
    client = await make_client()

    response = await client.post("/join/nope/ended", headers=JOIN, json={"reason": "disconnected"})

    assert response.status == 204
    assert backend.calls == []


async def test_page_rate_limit_answers_429_with_retry_after(make_client, backend):
    code = backend.issue()
    client = await make_client(rate_limits=JoinRateLimits(page=Rate(3, 60)))

    statuses = [(await client.get(f"/join/{code}")).status for _ in range(3)]
    limited = await client.get(f"/join/{code}")

    assert statuses == [200, 200, 200]
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 20
    assert "Too many requests" in await limited.text()
    assert limited.headers["Cache-Control"] == "no-store"
    assert len(backend.calls_to("view")) == 3


async def test_credentials_rate_limit_answers_429_json(make_client, backend):
    client = await make_client(rate_limits=JoinRateLimits(credentials=Rate(2, 60)))

    codes = [backend.issue() for _ in range(3)]
    statuses = [
        (await client.post(f"/join/{code}/credentials", headers=JOIN)).status for code in codes
    ]

    assert statuses == [200, 200, 429]
    limited = await client.post(f"/join/{codes[2]}/credentials", headers=JOIN)
    assert (await limited.json())["state"] == "rate_limited"
    assert "Retry-After" in limited.headers
    assert len(backend.calls_to("redeem")) == 2


async def test_default_limits_allow_thirty_page_loads_a_minute(make_client, backend):
    code = backend.issue()
    client = await make_client()

    statuses = [(await client.get(f"/join/{code}")).status for _ in range(31)]

    assert statuses.count(200) == 30
    assert statuses[-1] == 429


async def test_code_never_reaches_the_log(make_client, backend, caplog):
    code = backend.issue()
    used = backend.issue(state=JoinState.USED)
    client = await make_client(rate_limits=JoinRateLimits(page=Rate(4, 60)))

    with caplog.at_level(logging.DEBUG):
        for path in (code, used, f"{code}/x", f"{code}/credentials"):
            await client.get(f"/join/{path}")
        await client.post(f"/join/{code}/credentials", headers=JOIN)
        await client.post(f"/join/{code}/credentials", headers=JOIN)
        await client.post(f"/join/{code}/ended", headers=JOIN, json={"reason": "member_ended"})
        await client.get(f"/join/{code}")  # over the page limit
        # A backend that puts the code in its exception message.
        backend.error = RuntimeError(f"backend failed for {used}")
        await client.post(f"/join/{used}/credentials", headers=JOIN)
        backend.error = RuntimeError(f"backend failed for {code}")
        await client.post(f"/join/{code}/ended", headers=JOIN, json={"reason": "disconnected"})

    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    assert "backend failed for <code>" in logged  # the failure is logged, blanked
    assert code not in logged
    assert used not in logged


async def test_missing_livekit_build_still_renders_a_page_that_says_so(
    make_client, backend, caplog
):
    code = backend.issue(avatar_name="Nova")
    with caplog.at_level(logging.WARNING):
        client = await make_client(without_livekit=True)

    page = await client.get(f"/join/{code}")
    vendor = await client.get("/static/vendor/livekit-client.js")

    assert "livekit-client is not installed" in caplog.text
    assert page.status == 503
    text = await page.text()
    assert "Nova" in text
    assert "npm ci" in text
    assert vendor.status == 404
    assert backend.calls_to("redeem") == []


async def test_vendor_build_is_cacheable_and_gzipped(make_client, livekit_dist):
    client = await make_client()

    response = await client.get(
        "/static/vendor/livekit-client.js?v=2.99.0",
        headers={"Accept-Encoding": "gzip"},
        auto_decompress=False,
    )
    body = await response.read()

    assert response.status == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.content_type == "text/javascript"
    assert gzip.decompress(body) == livekit_dist.read_bytes()


async def test_own_static_files_revalidate_by_etag(make_client):
    client = await make_client()

    first = await client.get("/static/join.js")
    again = await client.get("/static/join.js", headers={"If-None-Match": first.headers["ETag"]})

    assert first.status == 200
    assert first.headers["Cache-Control"] == "no-cache"
    assert "LivekitClient" in await first.text()
    assert again.status == 304


@pytest.mark.parametrize("name", ["nope.js", "..%2Fjoin.py", "join.js%00"])
async def test_unknown_static_files_are_404(make_client, name):
    client = await make_client()

    response = await client.get(f"/static/{name}")

    assert response.status == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"
