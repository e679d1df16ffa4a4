"""Knowledge documents. A row exists for every document that exists at Runway.

A document is ATTACHED to its avatar, or ORPHANED: it exists at Runway but is attached to
nothing, because attaching failed or its avatar was deleted. A cleanup deletes orphans at Runway
and then here. A crash-safe add records the document as ORPHANED right after creating it at
Runway, attaches it there, then calls `attach`: whatever happens in between, nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.storage.audit import AuditEvent, insert_event
from bot.storage.common import FORGOTTEN_MEMBER, Clock, unix_now
from bot.storage.database import Database
from bot.storage.errors import NotFoundError, TokenBudgetExceededError
from bot.storage.privacy import personal_data
from bot.storage.transaction import Row, WriteTx


class DocumentState(StrEnum):
    ATTACHED = "ATTACHED"
    ORPHANED = "ORPHANED"


@dataclass(frozen=True, slots=True)
class NewDocument:
    guild_id: int
    avatar_id: int
    runway_id: str
    name: str
    tokens: int
    byte_size: int
    added_by: int


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    guild_id: int
    avatar_id: int | None  # None once its avatar is deleted
    runway_id: str
    name: str
    tokens: int
    byte_size: int
    added_by: int
    state: DocumentState
    created_at: int


class DocumentRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def add(
        self,
        new: NewDocument,
        *,
        state: DocumentState = DocumentState.ATTACHED,
        token_budget: int | None = None,
        audit: AuditEvent | None = None,
    ) -> Document:
        """Record a document Runway has created.

        Raises `NotFoundError` if the guild has no such avatar, and, when adding it ATTACHED
        with a `token_budget`, `TokenBudgetExceededError` if the avatar's attached documents
        and this one would exceed it (checked in the same transaction, so two concurrent adds
        cannot both squeeze in).
        """
        now = self._clock()

        def body(tx: WriteTx) -> Document:
            if (
                tx.fetch_one(
                    "SELECT 1 FROM avatars WHERE guild_id = ? AND id = ?",
                    (new.guild_id, new.avatar_id),
                )
                is None
            ):
                raise NotFoundError(f"avatar {new.avatar_id} not found in this guild")
            if state is DocumentState.ATTACHED and token_budget is not None:
                _check_budget(tx, new.guild_id, new.avatar_id, new.tokens, token_budget)
            row = tx.fetch_one(
                "INSERT INTO documents (guild_id, avatar_id, runway_id, name, tokens, byte_size,"
                " added_by, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (
                    new.guild_id, new.avatar_id, new.runway_id, new.name, new.tokens,
                    new.byte_size, new.added_by, state, now,
                ),
            )  # fmt: skip
            assert row is not None, "INSERT ... RETURNING returns the row"
            if audit is not None:
                insert_event(tx, new.guild_id, audit, now)
            return _document(row)

        return await self._db.write(body)

    async def attach(
        self,
        guild_id: int,
        document_id: int,
        *,
        token_budget: int | None = None,
        audit: AuditEvent | None = None,
    ) -> Document | None:
        """Turn an orphan that still belongs to an avatar into an attached document.

        None if there is no such orphan (e.g. the cleanup got to it first, or its avatar was
        deleted). Raises `TokenBudgetExceededError` like `add`.
        """
        now = self._clock()

        def body(tx: WriteTx) -> Document | None:
            row = tx.fetch_one(
                "SELECT avatar_id, tokens FROM documents WHERE guild_id = ? AND id = ?"
                " AND state = 'ORPHANED' AND avatar_id IS NOT NULL",
                (guild_id, document_id),
            )
            if row is None:
                return None
            if token_budget is not None:
                _check_budget(tx, guild_id, row["avatar_id"], row["tokens"], token_budget)
            updated = tx.fetch_one(
                "UPDATE documents SET state = 'ATTACHED' WHERE id = ? RETURNING *", (document_id,)
            )
            assert updated is not None, "the row was just read in this transaction"
            if audit is not None:
                insert_event(tx, guild_id, audit, now)
            return _document(updated)

        return await self._db.write(body)

    async def get(self, guild_id: int, document_id: int) -> Document | None:
        row = await self._db.fetch_one(
            "SELECT * FROM documents WHERE guild_id = ? AND id = ?", (guild_id, document_id)
        )
        return None if row is None else _document(row)

    async def list_for_avatar(self, guild_id: int, avatar_id: int) -> list[Document]:
        """The avatar's attached documents, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM documents WHERE guild_id = ? AND avatar_id = ? AND state = 'ATTACHED'"
            " ORDER BY id",
            (guild_id, avatar_id),
        )
        return [_document(row) for row in rows]

    async def tokens_for_avatar(self, guild_id: int, avatar_id: int) -> int:
        """Tokens of knowledge the avatar's attached documents hold."""
        row = await self._db.fetch_one(_ATTACHED_TOKENS, (guild_id, avatar_id))
        return 0 if row is None else int(row[0])

    async def mark_orphaned(self, guild_id: int, document_id: int) -> bool:
        """Record that the document is attached to nothing; False if it does not exist."""
        return await self._db.write(
            lambda tx: (
                tx.execute(
                    "UPDATE documents SET state = 'ORPHANED' WHERE guild_id = ? AND id = ?",
                    (guild_id, document_id),
                )
                > 0
            )
        )

    async def added_since(
        self, guild_id: int, avatar_id: int, name: str, since: int
    ) -> Document | None:
        """The document of this name recorded for the avatar since `since`, if any: what a
        knowledge add interrupted after recording it had made."""
        row = await self._db.fetch_one(
            "SELECT * FROM documents WHERE guild_id = ? AND avatar_id = ? AND name = ?"
            " AND created_at >= ? ORDER BY id DESC LIMIT 1",
            (guild_id, avatar_id, name, since),
        )
        return None if row is None else _document(row)

    async def list_orphaned(self, *, created_before: int, limit: int = 100) -> list[Document]:
        """Orphans of every guild, oldest first, for the cleanup.

        `created_before` keeps the cleanup away from a document an add is still attaching.
        """
        rows = await self._db.fetch_all(
            "SELECT * FROM documents WHERE state = 'ORPHANED' AND created_at < ?"
            " ORDER BY created_at, id LIMIT ?",
            (created_before, limit),
        )
        return [_document(row) for row in rows]

    async def delete(
        self, guild_id: int, document_id: int, *, audit: AuditEvent | None = None
    ) -> bool:
        """Forget the document (once it is gone at Runway); False if it did not exist."""
        now = self._clock()

        def body(tx: WriteTx) -> bool:
            deleted = tx.execute(
                "DELETE FROM documents WHERE guild_id = ? AND id = ?", (guild_id, document_id)
            )
            if deleted and audit is not None:
                insert_event(tx, guild_id, audit, now)
            return deleted > 0

        return await self._db.write(body)


_ATTACHED_TOKENS = (
    "SELECT coalesce(sum(tokens), 0) FROM documents"
    " WHERE guild_id = ? AND avatar_id = ? AND state = 'ATTACHED'"
)


@personal_data("knowledge documents added", "documents.added_by")
def _forget_adder(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """The documents stay with their avatars; who added them is forgotten."""
    return tx.execute(
        "UPDATE documents SET added_by = :forgotten WHERE guild_id = :guild AND added_by = :member",
        {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER},
    )


def _check_budget(tx: WriteTx, guild_id: int, avatar_id: int, tokens: int, budget: int) -> None:
    row = tx.fetch_one(_ATTACHED_TOKENS, (guild_id, avatar_id))
    used = 0 if row is None else int(row[0])
    if used + tokens > budget:
        raise TokenBudgetExceededError(used, tokens, budget)


def _document(row: Row) -> Document:
    return Document(
        id=row["id"],
        guild_id=row["guild_id"],
        avatar_id=row["avatar_id"],
        runway_id=row["runway_id"],
        name=row["name"],
        tokens=row["tokens"],
        byte_size=row["byte_size"],
        added_by=row["added_by"],
        state=DocumentState(row["state"]),
        created_at=row["created_at"],
    )
