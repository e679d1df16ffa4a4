"""Ended sessions to announce (summary DM, moderation log, budget alerts), exactly once.

The row is written in the transaction that ends the session (`SessionRepository.settle` and
`release` with `announce=True`), so a session ended by any process is announced, and only the
process whose conditional UPDATE ended it writes one. Any bot process then claims rows for a
while (`claim`), announces them and deletes them (`done`). A claim that runs out (its process
died while announcing) is claimed again by another: a crash mid-send is retried, and a row
that was announced is gone, so never announced again. A second claimer never takes a row
already claimed: the claim's condition is in the UPDATE itself, which PostgreSQL re-checks
on the row's newest version when two processes race for it.
"""

from __future__ import annotations

from bot.storage.common import Clock, unix_now
from bot.storage.database import Database
from bot.storage.hot import hot
from bot.storage.transaction import WriteTx
from bot.storage.wakeups import Channel

MAX_ATTEMPTS = 5
"""Claims of one row before it is given up (logged): a session whose announcement keeps
failing must not be retried forever."""

_ADD = hot(
    "end: a session's end to announce",
    "INSERT INTO session_outbox (session_id, created_at) VALUES (:session_id, :now)"
    " ON CONFLICT (session_id) DO NOTHING",
    reads={},
)

_CLAIM = hot(
    "announcements: claim the ends to announce",
    """
    UPDATE session_outbox SET claimer = :holder, claimed_until = :until,
        attempts = attempts + 1
    WHERE session_id IN (
        SELECT session_id FROM session_outbox
        WHERE claimed_until IS NULL OR claimed_until <= :now
        ORDER BY session_id LIMIT :limit)
      AND (claimed_until IS NULL OR claimed_until <= :now)
    RETURNING session_id, attempts
    """,
    reads={"session_outbox.pk": None},
)


_DONE = hot(
    "announcements: an end announced",
    "DELETE FROM session_outbox WHERE session_id = :session_id AND claimer = :holder",
    reads={"session_outbox.pk": None},
)


def announce_end(tx: WriteTx, session_id: int, now: int) -> None:
    """Inside the transaction that ended the session: announce it once, whoever ended it."""
    tx.execute(_ADD, {"session_id": session_id, "now": now})
    tx.notify(Channel.ENDS)


class OutboxRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def claim(self, holder: int, seconds: int, limit: int = 20) -> list[tuple[int, int]]:
        """Claim up to `limit` ends to announce for `seconds`: (session id, attempts so far)."""
        now = self._clock()
        params = {"holder": holder, "until": now + seconds, "now": now, "limit": limit}
        rows = await self._db.write(lambda tx: tx.fetch_all(_CLAIM, params))
        return sorted((int(row[0]), int(row[1])) for row in rows)

    async def done(self, session_id: int, holder: int) -> bool:
        """The end was announced (or given up): its row goes, never to be announced again."""
        params = {"session_id": session_id, "holder": holder}
        return await self._db.write(lambda tx: tx.execute(_DONE, params) > 0)
