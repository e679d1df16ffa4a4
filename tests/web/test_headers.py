"""Every join route and asset carries the join headers; the rest of the app is untouched."""

from __future__ import annotations

import pytest

from bot.services.join_types import JoinState
from tests.web.conftest import LIVEKIT_ORIGIN

EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: mediastream:; "
    f"connect-src 'self' {LIVEKIT_ORIGIN} https://livekit.example.test; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
COMMON = {
    "Content-Security-Policy": EXPECTED_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "microphone=(self), camera=()",
}


def requests_for(ok: str, used: str) -> list[tuple[str, str, dict, int, str]]:
    join = {"X-Join": "1"}
    return [
        ("GET", f"/join/{ok}", {}, 200, "no-store"),
        ("HEAD", f"/join/{ok}", {}, 200, "no-store"),
        ("GET", f"/join/{used}", {}, 404, "no-store"),
        ("GET", "/join/malformed", {}, 404, "no-store"),
        ("GET", f"/join/{ok}/nothing-here", {}, 404, "no-store"),
        ("GET", f"/join/{ok}/credentials", {}, 405, "no-store"),
        ("POST", f"/join/{ok}/credentials", {}, 403, "no-store"),
        ("POST", f"/join/{used}/credentials", join, 404, "no-store"),
        ("POST", f"/join/{ok}/credentials", join, 200, "no-store"),
        ("POST", f"/join/{ok}/ended", join, 400, "no-store"),
        ("GET", "/static/join.js", {}, 200, "no-cache"),
        ("GET", "/static/join.css", {}, 200, "no-cache"),
        ("GET", "/static/missing.css", {}, 404, "no-store"),
        ("GET", "/static/vendor/livekit-client.js", {}, 200, "public, max-age=31536000, immutable"),
    ]


async def test_every_join_response_has_the_headers(make_client, backend):
    ok = backend.issue()
    used = backend.issue(state=JoinState.USED)
    client = await make_client()

    for method, path, headers, status, cache in requests_for(ok, used):
        response = await client.request(method, path, headers=headers)
        assert (method, path, response.status) == (method, path, status)
        for name, value in COMMON.items():
            assert response.headers.get(name) == value, (method, path, name)
        assert response.headers["Cache-Control"] == cache, (method, path)


async def test_ended_204_has_the_headers(make_client, backend):
    client = await make_client()
    response = await client.post(
        f"/join/{backend.issue()}/ended", headers={"X-Join": "1"}, json={"reason": "member_ended"}
    )

    assert response.status == 204
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"] == EXPECTED_CSP


@pytest.mark.parametrize("path", ["/healthz", "/elsewhere"])
async def test_other_routes_are_left_alone(make_client, path):
    client = await make_client()

    response = await client.get(path)

    assert "Content-Security-Policy" not in response.headers
