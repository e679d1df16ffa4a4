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
what and lose the who.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bot.storage.database import Database
from bot.storage.transaction import WriteTx

Eraser = Callable[[WriteTx, int, int], int]


@dataclass(frozen=True, slots=True)
class PersonalData:
    name: str  # what the member is told was erased, e.g. "calls"
    columns: tuple[str, ...]  # every `table.column` holding a member's id that it erases
    erase: Eraser


PERSONAL_DATA: Final[dict[str, PersonalData]] = {}


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
    def __init__(self, db: Database) -> None:
        self._db = db

    async def forget(self, guild_id: int, member_id: int) -> dict[str, int]:
        """Erase the member from every registered record of this guild, in one transaction;
        returns what each eraser changed. An eraser may refuse (raising `InUseError`), and
        then nothing is erased."""
        erasers = load_all()

        def body(tx: WriteTx) -> dict[str, int]:
            return {name: data.erase(tx, guild_id, member_id) for name, data in erasers.items()}

        return await self._db.write(body)
