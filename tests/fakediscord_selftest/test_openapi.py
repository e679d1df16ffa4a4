"""The judge itself: Discord's OpenAPI description, matched and explained correctly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakediscord import FakeDiscord
from tests.fakediscord.openapi import NO_BODY, DiscordSpec, RouteMatch, RouteMiss
from tests.fakediscord.reference import discord_openapi_path

CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"


@pytest.fixture(scope="module")
def spec(spec_path: Path) -> DiscordSpec:
    return DiscordSpec.load(spec_path)


def _problems(spec: DiscordSpec, match: RouteMatch, body: Any) -> list[str]:
    return [str(problem) for problem in spec.body_problems(match, None, body)]


def _match(spec: DiscordSpec, method: str, path: str) -> RouteMatch:
    found = spec.find(method, path)
    assert isinstance(found, RouteMatch), found
    return found


def test_the_description_is_parsed_once_per_process(spec_path: Path, spec: DiscordSpec) -> None:
    assert DiscordSpec.load(spec_path) is spec


def test_a_literal_segment_beats_a_parameter(spec: DiscordSpec) -> None:
    assert _match(spec, "GET", "/users/@me").operation.template == "/users/@me"
    assert _match(spec, "GET", "/users/80351110224678912").params == {
        "user_id": "80351110224678912"
    }
    webhook = _match(spec, "PATCH", "/webhooks/1/abc/messages/@original")
    assert webhook.operation.template.endswith("/messages/@original")


def test_unknown_routes_and_methods_are_explained(spec: DiscordSpec) -> None:
    assert isinstance(spec.find("GET", "/nothing/here"), RouteMiss)
    miss = spec.find("DELETE", "/gateway/bot")
    assert isinstance(miss, RouteMiss)
    assert "it allows GET" in miss.reason


def test_a_union_error_names_the_field_of_the_intended_shape(spec: DiscordSpec) -> None:
    callback = _match(spec, "POST", "/interactions/1/t/callback")
    problems = _problems(spec, callback, {"type": 9, "data": {"title": "t", "custom_id": "c"}})
    assert problems == ["$.data.components: This field is required"]
    problems = _problems(spec, callback, {"type": 4, "data": {"embeds": [{"title": 5}]}})
    assert problems == ["$.data.embeds[0].title: 5 is not of type ['string', 'null']"]


def test_a_shape_matching_no_branch_says_so(spec: DiscordSpec) -> None:
    callback = _match(spec, "POST", "/interactions/1/t/callback")
    (problem,) = _problems(spec, callback, {"type": 99})
    assert problem.startswith("$: fits none of the allowed shapes")


def test_integer_snowflakes_are_accepted_in_requests_only(spec: DiscordSpec) -> None:
    followup = _match(spec, "POST", "/webhooks/1/t")
    body = {"content": "x", "attachments": [{"id": 0, "filename": "a.txt"}]}
    assert spec.body_problems(followup, None, body) == []
    me = _match(spec, "GET", "/users/@me")
    reply = {"id": 1, "username": "x", "avatar": None, "discriminator": "0", "public_flags": 0}
    assert any("$.id" in p for p in spec.response_problems(me, 200, reply))


def test_bodies_are_required_where_discord_requires_them(spec: DiscordSpec) -> None:
    callback = _match(spec, "POST", "/interactions/1/t/callback")
    assert _problems(spec, callback, NO_BODY) == [
        "$: the request has no body, but Discord requires one"
    ]
    assert spec.body_problems(_match(spec, "GET", "/users/@me"), None, {}) != []


def test_path_parameters_are_checked(spec: DiscordSpec) -> None:
    assert spec.parameter_problems(_match(spec, "GET", "/channels/general")) != []
    assert spec.parameter_problems(_match(spec, "GET", "/channels/123")) == []


async def test_without_the_reference_folder_the_fake_cannot_validate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REFERENCE_DIR", str(tmp_path / "absent"))
    assert discord_openapi_path() is None
    with pytest.raises(FileNotFoundError):
        await FakeDiscord.start()
    fake = await FakeDiscord.start(validate=False)
    await fake.stop()
