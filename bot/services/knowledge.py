"""Knowledge documents: uploading them to Runway and attaching them to avatars.

Runway's PATCH replaces an avatar's `documentIds` as a whole, so adds and removals for
one avatar are serialised with a lock per avatar: two members adding files at once both
keep their file. A document is recorded (as an orphan) right after Runway creates it and
only marked attached once Runway has attached it, so a failure or a crash in between
leaves a record the cleanup can delete at Runway, never a document nobody knows about.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from bot.errors import InvalidInput, NotFound
from bot.runway import catalog
from bot.runway.client import RunwayClient
from bot.runway.dialects import Operation
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.errors import RunwayError
from bot.runway.models import AvatarChanges
from bot.services.actors import Actor, Permissions
from bot.services.billable import Adopted, BillableCalls, IntentKind, Progress
from bot.services.document_cleanup import delete_everywhere
from bot.services.knowledge_text import read_knowledge_file
from bot.services.processes import ProcessIdentity
from bot.services.reconcile_kinds import document_fingerprint
from bot.services.text_rules import clean_document_name
from bot.storage import (
    AuditEvent,
    Avatar,
    AvatarRepository,
    Document,
    DocumentRepository,
    DocumentState,
    NewDocument,
    ReviewState,
    TokenBudgetExceededError,
    row_id,
    unix_now,
)
from bot.storage.intents import NewIntent
from bot.workers.pool import WorkerPool

BUDGET: Final = catalog.KNOWLEDGE_TOKENS_PER_AVATAR
ORPHAN_GRACE_SECONDS: Final = 600
SEED_EXPLANATION: Final = (
    "The Runway API this bot is set up for (the seed description) cannot attach knowledge "
    "to an avatar that already exists: documents can only be given when an avatar is "
    "created. Delete and re-create the avatar to change its knowledge."
)


@dataclass(frozen=True, slots=True)
class KnowledgeSummary:
    documents: list[Document]
    used: int

    @property
    def remaining(self) -> int:
        return max(0, BUDGET - self.used)


class KnowledgeService:
    def __init__(
        self,
        *,
        avatars: AvatarRepository,
        documents: DocumentRepository,
        permissions: Permissions,
        runway: RunwayClient,
        billable: BillableCalls,
        identity: ProcessIdentity,
        counter: WorkerPool,
    ) -> None:
        self._avatars = avatars
        self._documents = documents
        self._permissions = permissions
        self._runway = runway
        self._billable = billable
        self._intents = billable.intents
        self._identity = identity
        self._counter = counter
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def add(
        self,
        guild_id: int,
        actor: Actor,
        avatar: Avatar,
        *,
        filename: str,
        data: bytes,
        name: str | None = None,
        progress: Progress | None = None,
    ) -> tuple[Document, KnowledgeSummary]:
        settings = await self._permissions.require_manager(
            guild_id, actor, doing="Adding knowledge"
        )
        if not self._runway.rules.supports(Operation.AVATAR_UPDATE):
            raise InvalidInput(SEED_EXPLANATION)
        if avatar.runway_id is None:
            raise InvalidInput(f"{avatar.name} is not ready at Runway yet; try again shortly.")
        text = await asyncio.to_thread(read_knowledge_file, filename, data)
        label = clean_document_name(name or filename)
        tokens: int = await self._counter.run("tokens", text.text.encode("utf-8"))
        async with self._locks[avatar.id]:
            used = await self._documents.tokens_for_avatar(guild_id, avatar.id)
            if used + tokens > BUDGET:
                raise _over_budget(avatar, used, tokens)
            intent = await self._intents.add(
                NewIntent(
                    kind=IntentKind.DOCUMENT,
                    guild_id=guild_id,
                    member_id=actor.user_id,
                    name=label,
                    fingerprint=document_fingerprint(label, text.text),
                    decide_after=unix_now() + int(self._runway.create_read_seconds),
                    detail={"avatar_id": avatar.id, "tokens": tokens},
                ),
                self._identity.id,
            )
            answer = await self._billable.call(
                intent.id,
                lambda: self._runway.create_document(label, text.text),
                what=f"the file {label}",
                progress=progress,
            )
            runway_id = answer.runway_id if isinstance(answer, Adopted) else answer.id
            record = await self._documents.add(
                NewDocument(
                    guild_id=guild_id,
                    avatar_id=avatar.id,
                    runway_id=runway_id,
                    name=label,
                    tokens=tokens,
                    byte_size=text.byte_size,
                    added_by=actor.user_id,
                ),
                state=DocumentState.ORPHANED,
            )
            await self._billable.adopted(intent.id, runway_id)
            attached = await self._documents.list_for_avatar(guild_id, avatar.id)
            ids = (*(document.runway_id for document in attached), runway_id)
            try:
                await self._runway.update_avatar(avatar.runway_id, AvatarChanges(document_ids=ids))
            except RunwayError:
                # Undo the create; what Runway cannot delete now stays for the cleanup.
                await delete_everywhere(self._runway, self._documents, record)
                raise
            try:
                stored = await self._documents.attach(
                    guild_id,
                    record.id,
                    token_budget=BUDGET,
                    audit=AuditEvent(
                        actor.user_id,
                        "knowledge.add",
                        avatar.name,
                        {"document": label, "tokens": tokens, "avatar_id": avatar.id},
                    ),
                )
            except TokenBudgetExceededError as error:
                raise _over_budget(avatar, error.used, error.requested) from None
            if stored is None:
                raise NotFound(f"{avatar.name} was deleted while the file was being added.")
            if settings.approval_required:
                await self._avatars.update(guild_id, avatar.id, review_state=ReviewState.PENDING)
        return stored, await self.summary(guild_id, avatar)

    async def summary(self, guild_id: int, avatar: Avatar) -> KnowledgeSummary:
        documents = await self._documents.list_for_avatar(guild_id, avatar.id)
        return KnowledgeSummary(documents=documents, used=sum(doc.tokens for doc in documents))

    async def search(self, guild_id: int, avatar: Avatar, text: str) -> list[Document]:
        needle = text.strip().casefold()
        documents = await self._documents.list_for_avatar(guild_id, avatar.id)
        return [doc for doc in documents if needle in doc.name.casefold()][:25]

    async def remove(
        self, guild_id: int, actor: Actor, avatar: Avatar, document_value: str
    ) -> Document:
        """Detach and delete; a document Runway no longer has is simply cleaned up here."""
        await self._permissions.require_manager(guild_id, actor, doing="Removing knowledge")
        document = await self._find(guild_id, avatar, document_value)
        async with self._locks[avatar.id]:
            if avatar.runway_id and self._runway.rules.supports(Operation.AVATAR_UPDATE):
                remaining = await self._documents.list_for_avatar(guild_id, avatar.id)
                ids = tuple(doc.runway_id for doc in remaining if doc.id != document.id)
                with contextlib.suppress(RunwayNotFound):
                    await self._runway.update_avatar(
                        avatar.runway_id, AvatarChanges(document_ids=ids)
                    )
            with contextlib.suppress(RunwayNotFound):
                await self._runway.delete_document(document.runway_id)
            await self._documents.delete(
                guild_id,
                document.id,
                audit=AuditEvent(
                    actor.user_id,
                    "knowledge.remove",
                    avatar.name,
                    {"document": document.name, "avatar_id": avatar.id},
                ),
            )
        return document

    async def clean_orphans(self, *, now: int | None = None) -> int:
        """Delete at Runway what no avatar uses any more; returns how many were cleaned."""
        moment = unix_now() if now is None else now
        cleaned = 0
        for document in await self._documents.list_orphaned(
            created_before=moment - ORPHAN_GRACE_SECONDS
        ):
            cleaned += await delete_everywhere(self._runway, self._documents, document)
        return cleaned

    async def _find(self, guild_id: int, avatar: Avatar, value: str) -> Document:
        text = value.strip()
        number = row_id(text)
        documents = await self._documents.list_for_avatar(guild_id, avatar.id)
        for document in documents:
            if document.id == number or document.name.casefold() == text.casefold():
                return document
        raise NotFound(f"{avatar.name} has no knowledge document by that name.")


def _over_budget(avatar: Avatar, used: int, tokens: int) -> InvalidInput:
    remaining = max(0, BUDGET - used)
    return InvalidInput(
        f"That file is about {tokens:,} tokens, but {avatar.name} has only {remaining:,} of its "
        f"{BUDGET:,} knowledge tokens left. Remove a document or upload a shorter file."
    )
