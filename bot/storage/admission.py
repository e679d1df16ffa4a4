"""How a reservation is admitted: facts read inside the reservation's transaction, and a policy.

`SessionRepository.admit` (and `reserve`) asks the policy which periods it needs
(`usage_query`), reads the guild's and member's usage in its write transaction, and lets the
policy decide (`admit`) before inserting. That transaction holds the admission lock
(`LockKey.ADMISSION`): on SQLite `BEGIN IMMEDIATE` already lets one writer through, on
PostgreSQL a transaction-scoped advisory lock makes every process's admissions run one after
another. Nothing can change between the read and the insert, so no burst of starts, at one
process or several, can overshoot. Richer policies (daily and monthly budgets, cooldowns, role
tiers) only need to implement the protocol; the facts they need are already here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.storage.errors import LimitReached

if TYPE_CHECKING:
    from bot.storage.sessions import NewSession


@dataclass(frozen=True, slots=True)
class Period:
    """The half-open range [start, end) in unix seconds; sessions count by when they started."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """The facts a policy wants beyond the live-session counts, which are always read."""

    periods: tuple[Period, ...] = ()
    member_last_end: bool = False
    account: bool = False
    """Whether to read the account's live sessions and waiting line too (`UsageSnapshot`)."""


@dataclass(frozen=True, slots=True)
class PeriodUsage:
    """Seconds charged in a period: real seconds of settled sessions plus the maximum of live
    ones (their reservation); released sessions cost nothing."""

    guild_seconds: int
    member_seconds: int


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    guild_live: int
    member_live: int
    periods: Mapping[Period, PeriodUsage]
    member_last_ended_at: int | None  # only read when the query asks for it
    account_live: int = 0
    """Live sessions of every server: Runway's limit is per account (read when asked)."""
    account_waiting: int = 0
    """Members waiting in line for a call slot, of every server (read when asked)."""


class AdmissionPolicy(Protocol):
    """Decides whether a session may start. `admit` runs inside the write transaction, on the
    database thread: it must be quick, pure arithmetic that raises `LimitReached` to refuse."""

    def usage_query(self, now: int) -> UsageQuery: ...

    def admit(self, request: NewSession, usage: UsageSnapshot, now: int) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveLimits:
    """Caps on sessions live at once; None means no cap, 0 means none allowed."""

    max_live_per_member: int | None = None
    max_live_per_guild: int | None = None

    def usage_query(self, now: int) -> UsageQuery:
        return UsageQuery()

    def admit(self, request: NewSession, usage: UsageSnapshot, now: int) -> None:
        member_cap = self.max_live_per_member
        if member_cap is not None and usage.member_live >= member_cap:
            raise LimitReached("member_live", member_cap, usage.member_live)
        guild_cap = self.max_live_per_guild
        if guild_cap is not None and usage.guild_live >= guild_cap:
            raise LimitReached("guild_live", guild_cap, usage.guild_live)


class FittingPolicy(AdmissionPolicy, Protocol):
    """A policy that also fits the call's length to what the budgets have left, inside the
    same transaction (a start asks for a length, and gets what is left, or a refusal)."""

    def fit(self, wanted: int, usage: UsageSnapshot, now: int) -> int:
        """The call's length: `wanted` cut to what the budgets allow, at least the shortest
        call Runway takes (a budget too small for that is then refused by `admit`)."""
        ...
