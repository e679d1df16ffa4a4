"""A reservation whose Runway session reconciliation found after its start failed is released
and named in one unit of work, on both engines: a fault between the two statements leaves
both undone, never a released reservation without its Runway id (or the reverse)."""

from __future__ import annotations

import pytest

from bot.storage import Database, EndReason, LiveLimits, SessionRepository, SessionState
from bot.storage.transaction import Params, WriteTx

from .conftest import T0, FakeClock
from .helpers import new_session


class InjectedFault(Exception):
    """Stands for a crash or a lost connection between the two statements."""


async def test_a_found_reservation_is_released_and_named_at_once(
    db: Database, clock: FakeClock
) -> None:
    sessions = SessionRepository(db, clock)
    reserved = await sessions.reserve(new_session(), LiveLimits())
    assert await sessions.release_found(reserved.id, "rw-found")
    found = await sessions.by_id(reserved.id)
    assert found is not None
    assert (found.state, found.end_reason, found.runway_id, found.ended_at) == (
        SessionState.RELEASED,
        EndReason.START_FAILED,
        "rw-found",
        T0,
    )
    # Again (a pass resumed before its intent was resolved): nothing changes.
    assert not await sessions.release_found(reserved.id, "rw-other")
    again = await sessions.by_id(reserved.id)
    assert again == found


async def test_a_fault_between_the_release_and_the_runway_id_leaves_neither(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = SessionRepository(db, clock)
    reserved = await sessions.reserve(new_session(), LiveLimits())
    execute = WriteTx.execute
    released_first: list[int] = []

    def faulty(tx: WriteTx, sql: str, params: Params = ()) -> int:
        if "SET runway_id" in str(sql):
            assert released_first == [1], "the fault must come after the release"
            raise InjectedFault
        changed = execute(tx, sql, params)
        if "SET state = 'RELEASED'" in str(sql):
            released_first.append(changed)
        return changed

    monkeypatch.setattr(WriteTx, "execute", faulty)
    with pytest.raises(InjectedFault):
        await sessions.release_found(reserved.id, "rw-found")
    monkeypatch.setattr(WriteTx, "execute", execute)

    after = await sessions.by_id(reserved.id)
    assert after is not None
    assert (after.state, after.runway_id, after.ended_at) == (SessionState.RESERVED, None, None)
    # The next pass does both.
    assert await sessions.release_found(reserved.id, "rw-found")
    done = await sessions.by_id(reserved.id)
    assert done is not None
    assert (done.state, done.runway_id) == (SessionState.RELEASED, "rw-found")
