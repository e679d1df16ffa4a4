"""A guild's quota settings, role tiers, the usage facts allowances show, and alerts posted.

Limits are stored one row per limit a guild changed, so "unset" (no row: the bot's default),
"no limit" (NULL) and "none allowed" (0) stay three different things. Which default applies
and what a limit means is the quota service's business; this module only keeps the records.

What every session start reads before it reserves (`start_facts`: the guild's records and the
member's usage, in one unit) goes through the database's write queue although it changes
nothing: under a burst of starts, each plain read costs a trip to the database thread of its
own, while the write queue carries a whole batch in one trip and one transaction (see
writer.py). That more than doubles the rate at which starts can be admitted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bot.storage.admission import Period, UsageSnapshot
from bot.storage.charges import read_usage
from bot.storage.common import FORGOTTEN_MEMBER, Clock, SqlValue, unix_now
from bot.storage.database import Database
from bot.storage.hot import hot
from bot.storage.privacy import personal_data
from bot.storage.sql import engine_sql
from bot.storage.transaction import ReadTx, WriteTx

ALERT_MEMORY_SECONDS: Final = 100 * 86_400
"""Alerts older than this are forgotten: their periods (a day, a month) are long over."""


class QuotaName(StrEnum):
    MAX_AVATARS = "max_avatars"
    GUILD_DAY = "guild_day_seconds"
    GUILD_MONTH = "guild_month_seconds"
    MEMBER_DAY = "member_day_seconds"
    GUILD_LIVE = "guild_live"
    MEMBER_LIVE = "member_live"
    COOLDOWN = "cooldown_seconds"
    SESSION = "session_seconds"
    VIDEO_GUILD_DAY = "video_guild_day_seconds"
    VIDEO_MEMBER_DAY = "video_member_day_seconds"
    VIDEO_COOLDOWN = "video_cooldown_seconds"


class Budget(StrEnum):
    """A guild's budgets that alerts follow: call time a day and a month, video time a day."""

    DAY = "day"
    MONTH = "month"
    VIDEO_DAY = "video_day"


@dataclass(frozen=True, slots=True)
class StoredQuotas:
    """What a guild changed: limits (None: no limit) and role tiers, with its timezone and
    alert channel from its settings. A limit not in `limits` takes the bot's default."""

    guild_id: int
    limits: Mapping[QuotaName, int | None]
    role_tiers: Mapping[int, int | None]
    timezone: str = "UTC"
    alert_channel_id: int | None = None


class QuotaRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def get(self, guild_id: int) -> StoredQuotas:
        return await self._db.write(lambda tx: stored_quotas(tx, guild_id))

    async def set_limit(
        self, guild_id: int, name: QuotaName, value: int | None, *, actor_id: int
    ) -> None:
        """Set one limit (None: no limit). Raises ValueError for a negative value."""
        _check_amount(value)
        params: dict[str, SqlValue] = {
            "guild": guild_id,
            "name": name.value,
            "value": value,
            "actor": actor_id,
        }
        await self._db.write(lambda tx: tx.execute(_SET_LIMIT, params | {"now": self._clock()}))

    async def set_tier(
        self, guild_id: int, role_id: int, seconds: int | None, *, actor_id: int
    ) -> None:
        """Give holders of `role_id` this many seconds a day (None: unlimited)."""
        _check_amount(seconds)
        params: dict[str, SqlValue] = {
            "guild": guild_id,
            "role": role_id,
            "seconds": seconds,
            "actor": actor_id,
        }
        await self._db.write(lambda tx: tx.execute(_SET_TIER, params | {"now": self._clock()}))

    async def clear_limits(self, guild_id: int, names: Collection[QuotaName]) -> int:
        """Back to the defaults for `names`; returns how many had been changed."""
        wanted = json.dumps(sorted(names))
        return await self._db.write(
            lambda tx: tx.execute(_CLEAR_LIMITS, {"guild": guild_id, "names": wanted})
        )

    async def clear_tier(self, guild_id: int, role_id: int) -> bool:
        return await self._db.write(
            lambda tx: (
                tx.execute(
                    "DELETE FROM quota_role_tiers WHERE guild_id = ? AND role_id = ?",
                    (guild_id, role_id),
                )
                > 0
            )
        )

    async def clear_all(self, guild_id: int) -> int:
        """Every limit and tier back to the defaults, in one transaction."""

        def body(tx: WriteTx) -> int:
            limits = tx.execute("DELETE FROM guild_quotas WHERE guild_id = ?", (guild_id,))
            return limits + tx.execute(
                "DELETE FROM quota_role_tiers WHERE guild_id = ?", (guild_id,)
            )

        return await self._db.write(body)

    async def start_facts(
        self, guild_id: int, member_id: int, periods: Callable[[str], tuple[Period, Period]]
    ) -> tuple[StoredQuotas, UsageSnapshot]:
        """The guild's records and the member's usage, in one trip: what every start reads
        to fit the call to what is left, and `/quota show` to tell it.

        `periods` turns the guild's timezone name into the day and month to sum; it runs on
        the database thread, so it must be quick (a cached calendar lookup). Charges are
        read by the same function `SessionRepository.reserve` reads them with
        (`bot.storage.charges`). Outside the reservation's transaction this is a view, never
        a promise.
        """

        def body(tx: WriteTx) -> tuple[StoredQuotas, UsageSnapshot]:
            stored = stored_quotas(tx, guild_id)
            day, month = periods(stored.timezone)
            return stored, read_usage(tx, guild_id, member_id, (day, month), member_last_end=True)

        return await self._db.write(body)

    async def claim_alerts(
        self, guild_id: int, budget: Budget, period_start: int, percents: Collection[int]
    ) -> list[int]:
        """Record `percents` of a budget's period as announced; returns those that were not
        yet, so two settles racing over the same threshold announce it once."""
        now = self._clock()

        def body(tx: WriteTx) -> list[int]:
            tx.execute(_FORGET_ALERTS, {"guild": guild_id, "before": now - ALERT_MEMORY_SECONDS})
            claimed = []
            for percent in sorted(set(percents)):
                row = tx.fetch_one(
                    _CLAIM_ALERT,
                    {
                        "guild": guild_id,
                        "budget": budget.value,
                        "period_start": period_start,
                        "percent": percent,
                        "now": now,
                    },
                )
                if row is not None:
                    claimed.append(percent)
            return claimed

        return await self._db.write(body)


def stored_quotas(tx: ReadTx, guild_id: int) -> StoredQuotas:
    """Everything about a guild's quotas in one statement."""
    row = tx.fetch_one(_READ, {"guild": guild_id})
    assert row is not None, "a SELECT of subqueries always returns a row"
    return StoredQuotas(
        guild_id=guild_id,
        limits={QuotaName(name): value for name, value in json.loads(row[2]).items()},
        role_tiers={int(role): value for role, value in json.loads(row[3]).items()},
        timezone=row[0] if row[0] is not None else "UTC",
        alert_channel_id=row[1],
    )


@personal_data("limit changes", "guild_quotas.updated_by", "quota_role_tiers.updated_by")
def _forget_admin(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """Limits an admin set stay; which admin set them is forgotten."""
    params = {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER}
    return tx.execute(
        "UPDATE guild_quotas SET updated_by = :forgotten"
        " WHERE guild_id = :guild AND updated_by = :member",
        params,
    ) + tx.execute(
        "UPDATE quota_role_tiers SET updated_by = :forgotten"
        " WHERE guild_id = :guild AND updated_by = :member",
        params,
    )


def _check_amount(value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError("a limit is 0 or more (0: none allowed), or None for no limit")


_READ = hot(
    "start, /quota show: a server's quota records",
    engine_sql("quota_records"),
    reads={"guild_settings.pk": None, "guild_quotas.pk": None, "quota_role_tiers.pk": None},
)

_CLEAR_LIMITS = engine_sql("clear_limits")

_SET_LIMIT = """
INSERT INTO guild_quotas (guild_id, name, value, updated_by, updated_at)
VALUES (:guild, :name, :value, :actor, :now)
ON CONFLICT (guild_id, name) DO UPDATE SET
    value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at
"""

_SET_TIER = """
INSERT INTO quota_role_tiers (guild_id, role_id, member_day_seconds, updated_by, updated_at)
VALUES (:guild, :role, :seconds, :actor, :now)
ON CONFLICT (guild_id, role_id) DO UPDATE SET
    member_day_seconds = excluded.member_day_seconds,
    updated_by = excluded.updated_by, updated_at = excluded.updated_at
"""

_FORGET_ALERTS = hot(
    "budget alerts: forget a server's alerts of periods long over",
    "DELETE FROM quota_alerts_sent WHERE guild_id = :guild AND sent_at < :before",
    reads={"quota_alerts_sent.pk": None},
)

_CLAIM_ALERT = hot(
    "budget alerts: claim a threshold of a period",
    """
    INSERT INTO quota_alerts_sent (guild_id, budget, period_start, percent, sent_at)
    VALUES (:guild, :budget, :period_start, :percent, :now)
    ON CONFLICT DO NOTHING RETURNING percent
    """,
    reads={"quota_alerts_sent.pk": None},
)
