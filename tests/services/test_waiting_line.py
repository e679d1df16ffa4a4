"""The waiting line below Discord: slots counted account-wide in the admission transaction,
places in fair order, a freed slot given with every limit checked, and Runway's own 429."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.runway.sandbox import Sandbox
from bot.services.actors import Actor
from bot.services.processes import STALE_SECONDS
from bot.services.sessions import PRESET_PREFIX, SlotsBusy
from bot.services.waiting_line import Offer, Removed
from bot.settings import Dialect
from bot.storage import EndReason, SessionRepository, SessionState, unix_now
from bot.storage.intents import ProcessRepository
from bot.storage.quotas import QuotaName
from bot.storage.waiting_line import LineState
from tests.services.conftest import ADMIN, GUILD, OTHER_GUILD, World, open_world

PRESET = PRESET_PREFIX + "cooking-teacher"


@pytest.fixture
async def world(production_sandbox: Sandbox, database_target: str | Path) -> AsyncIterator[World]:
    async for item in open_world(
        production_sandbox, database_target, Dialect.PRODUCTION, runway_max_live_sessions=2
    ):
        yield item


async def start(world: World, member: int, guild: int = GUILD):  # type: ignore[no-untyped-def]
    target = await world.services.sessions.target(guild, PRESET)
    return await world.services.sessions.start(guild, Actor(user_id=member), target)


async def queue(world: World, member: int, guild: int = GUILD):  # type: ignore[no-untyped-def]
    target = await world.services.sessions.target(guild, PRESET)
    return await world.services.line.join(guild, Actor(user_id=member), target)


def listen(world: World) -> tuple[list[Offer], list[Removed]]:
    offers: list[Offer] = []
    removed: list[Removed] = []

    async def deliver(offer: Offer) -> bool:
        offers.append(offer)
        return True

    async def tell(gone: Removed) -> None:
        removed.append(gone)

    world.services.line.on_offer(deliver)
    world.services.line.on_removed(tell)
    return offers, removed


async def test_past_the_accounts_slots_a_start_is_busy_and_the_freed_slot_goes_to_the_line(
    world: World,
) -> None:
    offers, _ = listen(world)
    first = await start(world, 1)
    await start(world, 2, guild=OTHER_GUILD)
    with pytest.raises(SlotsBusy) as busy:
        await start(world, 3)
    assert not busy.value.runway_said
    place = await queue(world, 3)
    assert place is not None
    assert (place.position, place.slots, place.minutes) == (1, 2, 2)  # 3 min a call, 2 slots
    second = await queue(world, 4, guild=OTHER_GUILD)
    assert second is not None
    assert second.position == 2
    # Someone new may not jump the line, even the moment a slot frees.
    await world.services.tracker.end_now(first.session, EndReason.MEMBER_ENDED)
    with pytest.raises(SlotsBusy):
        await start(world, 5)

    assert await world.services.line.serve() == 1
    [offer] = offers
    assert (offer.entry.member_id, offer.started.session.state) == (3, SessionState.OPEN)
    assert offer.started.join_url.startswith("https://bot.example.org/join/")
    assert [p.entry.member_id for p in await world.services.line.places()] == [4]
    assert await world.services.line.serve() == 0  # both slots taken again


async def test_a_limit_reached_meanwhile_takes_the_member_out_with_the_reason(
    world: World,
) -> None:
    _, removed = listen(world)
    busy = [await start(world, 1), await start(world, 2, guild=OTHER_GUILD)]
    await queue(world, 3)
    await world.services.quotas.set_limit(GUILD, ADMIN, QuotaName.MEMBER_DAY, 0)
    await world.services.tracker.end_now(busy[0].session, EndReason.MEMBER_ENDED)
    assert await world.services.line.serve() == 0
    [gone] = removed
    assert gone.entry.member_id == 3
    assert gone.reason == "Your roles give you no call time in this server."
    assert await world.services.line.places() == []


async def test_runways_own_429_offers_the_line_and_keeps_the_place_until_a_call_ends(
    world: World,
) -> None:
    offers, _ = listen(world)
    world.sandbox.config.max_concurrent_sessions = 1
    first = await start(world, 1)
    with pytest.raises(SlotsBusy) as busy:
        await start(world, 2)
    assert busy.value.runway_said
    rows = SessionRepository(world.database)
    assert [s.state for s in await rows.live_for_guild(GUILD)] == [SessionState.OPEN]

    await queue(world, 2)
    assert await world.services.line.serve() == 0  # Runway still full: back in place, paused
    assert [p.entry.member_id for p in await world.services.line.places()] == [2]
    await world.services.tracker.end_now(first.session, EndReason.MEMBER_ENDED)
    await world.services.line._call_ended(first.session)  # what settling tells the line
    assert await world.services.line.serve() == 1
    assert [o.entry.member_id for o in offers] == [2]


async def killed_process(world: World) -> int:
    """Another process, silent for longer than a live one may be (dead on either engine)."""
    long_ago = unix_now() - STALE_SECONDS - 1
    return await ProcessRepository(world.database, clock=lambda: long_ago).register()


async def test_a_place_a_killed_process_was_serving_is_kept(world: World) -> None:
    await start(world, 1)
    await start(world, 2)
    await queue(world, 3)
    await queue(world, 4)
    rows = SessionRepository(world.database)
    for session in await rows.open_sessions():
        await world.services.tracker.end_now(session, EndReason.MEMBER_ENDED)
    line = world.services.line
    # Give a slot without handing it over, as a process killed right after would leave it.
    outcome = await line._line.give(
        slots=2,
        dialect=Dialect.PRODUCTION,
        policy_for=line._policy_for,
        intent_for=lambda entry, seconds: world.services.sessions.session_intent(
            entry.guild_id, entry.member_id, entry.avatar_label, entry.runway_target, seconds
        ),
        owner=await killed_process(world),
    )
    assert outcome.given is not None
    assert outcome.given.state is LineState.OFFERING
    assert await line.repair() == 1
    assert [p.entry.member_id for p in await line.places()] == [3, 4]
    assert all(not s.live for s in await rows.live_for_guild(GUILD))
