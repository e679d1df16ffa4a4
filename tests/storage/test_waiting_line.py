"""The waiting line in the database: fair order, and giving a slot in one transaction."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.settings import Dialect
from bot.storage import (
    AvatarRepository,
    Database,
    EndReason,
    LimitReached,
    LiveLimits,
    NewSession,
    SessionRepository,
    UsageQuery,
    UsageSnapshot,
)
from bot.storage.intents import NewIntent, ProcessRepository
from bot.storage.privacy import PrivacyRepository
from bot.storage.waiting_line import (
    GiveOutcome,
    LineEntry,
    LineState,
    NewLineEntry,
    WaitingLineRepository,
    fair_order,
)

from .conftest import FakeClock
from .helpers import new_avatar, new_session


@dataclass
class Policy:
    """Live caps, and members whose other limits refuse them."""

    live: LiveLimits = field(default_factory=LiveLimits)
    refuse: frozenset[int] = frozenset()

    def usage_query(self, now: int) -> UsageQuery:
        return UsageQuery()

    def fit(self, wanted: int, usage: UsageSnapshot, now: int) -> int:
        return min(wanted, 240)

    def admit(self, request: NewSession, usage: UsageSnapshot, now: int) -> None:
        if request.member_id in self.refuse:
            raise LimitReached("member_day", 600, 600, frees_at=now + 60)
        self.live.admit(request, usage, now)


def place(guild: int, member: int, **changes: object) -> NewLineEntry:
    fields: dict[str, object] = {
        "guild_id": guild,
        "member_id": member,
        "role_ids": frozenset({7}),
        "avatar_label": "Cooking Teacher",
        "wanted_seconds": 300,
        "runway_target": "preset:cooking-teacher",
        "preset_id": "cooking-teacher",
    }
    return NewLineEntry(**(fields | changes))  # type: ignore[arg-type]


def intent(entry: LineEntry, seconds: int) -> NewIntent:
    return NewIntent(
        kind="session",
        guild_id=entry.guild_id,
        member_id=entry.member_id,
        name=entry.avatar_label,
        fingerprint=b"f" * 32,
        decide_after=0,
    )


async def give(
    line: WaitingLineRepository, owner: int, slots: int = 2, policy: Policy | None = None
) -> GiveOutcome:
    chosen = policy or Policy()
    return await line.give(
        slots=slots,
        dialect=Dialect.PRODUCTION,
        policy_for=lambda quotas, entry: chosen,
        intent_for=intent,
        owner=owner,
    )


async def owner(db: Database, clock: FakeClock) -> int:
    return await ProcessRepository(db, clock).register()


def entry(id_: int, guild: int) -> LineEntry:
    return LineEntry(
        id=id_, guild_id=guild, member_id=id_, role_ids=frozenset(), avatar_id=None,
        preset_id="p", avatar_label="x", wanted_seconds=60, runway_target="preset:p",
        state=LineState.WAITING,
        session_id=None, notice_channel_id=None, notice_message_id=None, joined_at=0,
    )  # fmt: skip


def test_servers_take_turns_and_members_of_a_server_come_in_order() -> None:
    # A busy server asked first; two others came later.
    waiting = [entry(1, 10), entry(2, 10), entry(3, 10), entry(4, 20), entry(5, 30), entry(6, 20)]
    assert [e.id for e in fair_order(waiting, {})] == [1, 4, 5, 2, 6, 3]
    # Server 10 was given the last slot: the others go first.
    assert [e.id for e in fair_order(waiting, {10: 3, 20: 1})] == [5, 4, 1, 6, 2, 3]


async def test_a_slot_goes_to_the_next_in_fair_order_and_each_server_takes_turns(
    db: Database, clock: FakeClock
) -> None:
    line = WaitingLineRepository(db, clock)
    me = await owner(db, clock)
    for guild, member in ((1, 11), (1, 12), (1, 13), (2, 21), (3, 31), (2, 22)):
        await line.join(place(guild, member))
    served = []
    sessions = SessionRepository(db, clock)
    for _ in range(6):
        outcome = await give(line, me)
        assert outcome.given is not None
        assert outcome.session is not None
        assert outcome.given.state is LineState.OFFERING
        assert outcome.session.max_seconds == 240  # fitted by the policy
        served.append(outcome.given.member_id)
        assert await line.served(outcome.given.id)
        await sessions.settle(
            outcome.session.id, used_seconds=1, end_reason=EndReason.COMPLETED, ended_at=0
        )
    assert served == [11, 21, 31, 12, 22, 13]
    assert await line.waiting() == []


async def test_no_slot_is_given_beyond_the_accounts_limit_whatever_the_server(
    db: Database, clock: FakeClock
) -> None:
    line = WaitingLineRepository(db, clock)
    me = await owner(db, clock)
    sessions = SessionRepository(db, clock)
    await sessions.reserve(new_session(guild_id=9), LiveLimits())
    await line.join(place(1, 11))
    await line.join(place(2, 21))
    first = await give(line, me, slots=2)
    assert first.given is not None
    full = await give(line, me, slots=2)
    assert (full.full, full.given) == (True, None)
    assert [e.member_id for e in await line.waiting()] == [21]


async def test_many_gives_at_once_never_pass_the_limit(db: Database, clock: FakeClock) -> None:
    line = WaitingLineRepository(db, clock)
    me = await owner(db, clock)
    for member in range(30):
        await line.join(place(member % 3, 100 + member))
    outcomes = await asyncio.gather(*(give(line, me, slots=2) for _ in range(10)))
    given = [o.given.member_id for o in outcomes if o.given is not None]
    assert len(given) == 2
    assert len(await line.waiting()) == 28


async def test_a_server_at_its_own_cap_is_passed_over_and_refused_members_leave(
    db: Database, clock: FakeClock
) -> None:
    line = WaitingLineRepository(db, clock)
    me = await owner(db, clock)
    sessions = SessionRepository(db, clock)
    await sessions.reserve(new_session(guild_id=1, member_id=99), LiveLimits())
    await line.join(place(1, 11))
    await line.join(place(2, 21))
    await line.join(place(2, 22))
    policy = Policy(live=LiveLimits(max_live_per_guild=1), refuse=frozenset({21}))
    outcome = await give(line, me, slots=5, policy=policy)
    assert outcome.given is not None
    assert outcome.given.member_id == 22
    assert [(r.entry.member_id, r.limit and r.limit.limit) for r in outcome.refused] == [
        (21, "member_day")
    ]
    assert [e.member_id for e in await line.waiting()] == [11]  # kept its place


async def test_a_failed_set_up_puts_the_member_back_in_the_same_place(
    db: Database, clock: FakeClock
) -> None:
    line = WaitingLineRepository(db, clock)
    me = await owner(db, clock)
    first = await line.join(place(1, 11))
    await line.join(place(1, 12))
    outcome = await give(line, me)
    assert outcome.given is not None
    assert [e.id for e in await line.offering()] == [first.id]
    assert await line.back_in_line(first.id)
    assert [e.member_id for e in await line.waiting()] == [11, 12]
    again = await line.join(place(1, 11, avatar_label="Someone else", preset_id="influencer"))
    assert (again.id, again.avatar_label) == (first.id, "Someone else")


async def test_a_deleted_avatar_takes_its_waiting_member_out_when_their_turn_comes(
    db: Database, clock: FakeClock
) -> None:
    avatars = AvatarRepository(db, clock)
    avatar = await avatars.add(new_avatar())
    line = WaitingLineRepository(db, clock)
    me = await owner(db, clock)
    await line.join(place(1, 11, avatar_id=avatar.id, preset_id=None, avatar_label="Ada"))
    await avatars.delete(1, avatar.id)
    outcome = await give(line, me)
    assert outcome.given is None
    assert [(r.entry.member_id, r.limit) for r in outcome.refused] == [(11, None)]


async def test_leaving_clearing_and_forgetting(db: Database, clock: FakeClock) -> None:
    line = WaitingLineRepository(db, clock)
    for guild, member in ((1, 11), (1, 12), (2, 21)):
        await line.join(place(guild, member))
    left = await line.leave(1, 11)
    assert left is not None
    assert left.member_id == 11
    assert await line.leave(1, 11) is None
    await line.set_notice((await line.waiting())[0].id, 555, 666)
    assert [e.notice_message_id for e in await line.waiting()] == [666, None]
    assert await PrivacyRepository(db).forget(2, 21) != {}
    assert [e.member_id for e in await line.waiting()] == [12]
    assert [e.member_id for e in await line.clear(1)] == [12]
    assert await line.waiting() == []
