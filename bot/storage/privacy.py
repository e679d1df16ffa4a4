"""What the bot keeps about a member, and erasing it on their request: the one place for it.

Every feature that stores something naming a member registers it here, beside its own SQL:

    @personal_data("calls", "sessions.member_id", ...)
    def _forget_calls(tx: WriteTx, guild_id: int, member_id: int) -> int: ...

naming the columns that hold a member's id and giving the function that erases the member from
them in one guild (returning how many records it changed). `PrivacyRepository.forget` runs every
registered eraser in one transaction: a member is forgotten everywhere or nowhere.
`tests/storage/test_privacy.py` fails if the schema has a column naming a member (`member_id`,
`user_id`, `actor_id`, `*_by`) that no eraser declares, so a new table cannot be forgotten.

What "erase" means is each feature's call. The usage a member caused stays in the server's
totals, filed under `FORGOTTEN_MEMBER`; records of who created or changed something keep the
what and lose the who. One thing outlives the erasure on purpose, for a bounded time: what the
server's limits still need of the member (`bot.storage.held_usage`), kept in the same
transaction before the erasers run, so forgetting oneself is no way round a daily allowance or
a wait between calls. Its columns are listed in `KEPT_AFTER_FORGETTING`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bot.storage.common import Clock, unix_now
from bot.storage.database import Database
from bot.storage.held_usage import HoldRules, hold
from bot.storage.transaction import WriteTx

Eraser = Callable[[WriteTx, int, int], int]


@dataclass(frozen=True, slots=True)
class PersonalData:
    name: str  # what the member is told was erased, e.g. "calls"
    columns: tuple[str, ...]  # every `table.column` holding a member's id that it erases
    erase: Eraser


PERSONAL_DATA: Final[dict[str, PersonalData]] = {}

KEPT_AFTER_FORGETTING: Final = ("held_usage.member_id",)
"""Columns naming a member that forgetting keeps, each until the limits no longer need it."""


def personal_data(name: str, *columns: str) -> Callable[[Eraser], Eraser]:
    """Register the decorated function as the eraser of `columns` (see the module note)."""

    def register(erase: Eraser) -> Eraser:
        if name in PERSONAL_DATA:
            raise ValueError(f"personal data {name!r} is registered twice")
        PERSONAL_DATA[name] = PersonalData(name, columns, erase)
        return erase

    return register


def load_all() -> dict[str, PersonalData]:
    """Every registration: importing each module of the storage package makes them."""
    package = importlib.import_module("bot.storage")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return PERSONAL_DATA


class PrivacyRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def forget(
        self, guild_id: int, member_id: int, keep: HoldRules | None = None
    ) -> dict[str, int]:
        """Erase the member from every registered record of this guild, in one transaction,
        after keeping what the limits `keep` describes still need (None: a server whose limits
        need nothing); returns what each eraser changed. An eraser may refuse (raising
        `InUseError`), and then nothing is erased or kept."""
        erasers = load_all()
        now = self._clock()

        def body(tx: WriteTx) -> dict[str, int]:
            if keep is not None:
                hold(tx, guild_id, member_id, keep, now)
            return {name: data.erase(tx, guild_id, member_id) for name, data in erasers.items()}

        return await self._db.write(body)
