"""The audit log."""

from __future__ import annotations

from bot.storage import AuditEvent, AuditRepository, Database, JsonValue

from .conftest import T0, FakeClock


async def test_history_is_newest_first_per_guild_and_pages(db: Database, clock: FakeClock) -> None:
    audit = AuditRepository(db, clock)
    for n in range(5):
        clock.now = T0 + n
        await audit.record(1, AuditEvent(10, "avatar.create", f"avatar {n}", {"n": n}))
    await audit.record(2, AuditEvent(None, "avatar.delete", "other guild"))

    page = await audit.history(1, limit=3)
    assert [entry.subject for entry in page] == ["avatar 4", "avatar 3", "avatar 2"]
    assert page[0].detail == {"n": 4}
    assert page[0].created_at == T0 + 4
    rest = await audit.history(1, limit=3, before_id=page[-1].id)
    assert [entry.subject for entry in rest] == ["avatar 1", "avatar 0"]

    other = await audit.history(2)
    assert len(other) == 1
    assert other[0].actor_id is None
    assert other[0].detail == {}


async def test_detail_round_trips_nested_json(db: Database) -> None:
    audit = AuditRepository(db)
    detail: dict[str, JsonValue] = {
        "changed": ["personality", "image"],
        "old": {"voice": "clara"},
        "ok": True,
    }
    entry = await audit.record(1, AuditEvent(10, "avatar.edit", "Ada", detail))
    assert entry.detail == detail
    assert (await audit.history(1))[0].detail == detail
