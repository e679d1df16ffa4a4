"""The account's avatars and knowledge documents, which refer to each other."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

from bot.runway.sandbox.clock import Clock
from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.errors import Issue, SandboxError
from bot.runway.sandbox.inputs import (
    UNSET,
    AvatarInput,
    AvatarPatch,
    AvatarRef,
    DocumentInput,
    DocumentPatch,
    PageQuery,
)
from bot.runway.sandbox.pagination import paginate
from bot.runway.sandbox.records import AvatarRecord, AvatarStatus, DocumentRecord, image_fails


class Library:
    """Avatars and documents: attachments must exist, and deleting a document detaches it."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._avatars: dict[str, AvatarRecord] = {}
        self._documents: dict[str, DocumentRecord] = {}

    def clear(self) -> None:
        self._avatars.clear()
        self._documents.clear()

    def create_avatar(self, spec: AvatarInput) -> AvatarRecord:
        self._check_documents(spec.document_ids)
        now = self._clock()
        avatar = AvatarRecord(
            id=str(uuid4()),
            name=spec.name,
            personality=spec.personality,
            start_script=spec.start_script,
            voice=spec.voice,
            reference_image=spec.reference_image,
            document_ids=list(spec.document_ids),
            created_at=now,
            updated_at=now,
            processed_at=now + self._processing(),
            fails=image_fails(spec.reference_image),
        )
        self._avatars[avatar.id] = avatar
        return avatar

    def avatar(self, avatar_id: str) -> AvatarRecord:
        try:
            return self._avatars[avatar_id]
        except KeyError:
            raise SandboxError(404, "Avatar not found.") from None

    def avatars(self, query: PageQuery) -> tuple[list[AvatarRecord], str | None]:
        return paginate(self._avatars.values(), lambda a: (a.created_at, a.id), query)

    def update_avatar(self, avatar_id: str, patch: AvatarPatch) -> AvatarRecord:
        """Apply a PATCH; a new reference image is refused while the last is still processing."""
        avatar = self.avatar(avatar_id)
        if patch.reference_image is not None:
            if avatar.status(self._clock()) is AvatarStatus.PROCESSING:
                raise SandboxError(
                    409, "The avatar is still processing its reference image; try again later."
                )
            self._start_processing(avatar, patch.reference_image)
        if patch.document_ids is not None:
            self._check_documents(patch.document_ids)
            avatar.document_ids = list(patch.document_ids)
        avatar.name = patch.name or avatar.name
        avatar.personality = patch.personality or avatar.personality
        avatar.voice = patch.voice or avatar.voice
        if patch.start_script is not UNSET:
            avatar.start_script = patch.start_script
        if patch != AvatarPatch():
            avatar.updated_at = self._clock()
        return avatar

    def delete_avatar(self, avatar_id: str) -> None:
        self._avatars.pop(self.avatar(avatar_id).id)

    def avatar_records(self) -> list[AvatarRecord]:
        return list(self._avatars.values())

    def document_records(self) -> list[DocumentRecord]:
        return list(self._documents.values())

    def avatar_name(self, ref: AvatarRef | None) -> str | None:
        """The name of the account's avatar a session showed, while it still exists."""
        if ref is None or not ref.custom or ref.id not in self._avatars:
            return None
        return self._avatars[ref.id].name

    def check_session_avatar(self, avatar_id: str, *, must_be_ready: bool) -> None:
        """A session may only show an avatar of this account (production: a READY one)."""
        avatar = self._avatars.get(avatar_id)
        if avatar is None:
            raise SandboxError(
                400,
                "Invalid request.",
                [Issue("custom", ("avatar", "avatarId"), "Avatar not found")],
            )
        status = avatar.status(self._clock())
        if must_be_ready and status is not AvatarStatus.READY:
            raise SandboxError(
                400,
                "Invalid request.",
                [Issue("custom", ("avatar", "avatarId"), f"Avatar is {status}, not READY")],
            )

    def create_document(self, spec: DocumentInput) -> DocumentRecord:
        now = self._clock()
        document = DocumentRecord(str(uuid4()), spec.name, spec.content, now, now)
        self._documents[document.id] = document
        return document

    def document(self, document_id: str) -> DocumentRecord:
        try:
            return self._documents[document_id]
        except KeyError:
            raise SandboxError(404, "Document not found.") from None

    def documents(self, query: PageQuery) -> tuple[list[DocumentRecord], str | None]:
        def key(document: DocumentRecord) -> tuple[datetime, str]:
            moment = document.updated_at if query.sort == "updatedAt" else document.created_at
            return moment, document.id

        return paginate(self._documents.values(), key, query)

    def update_document(self, document_id: str, patch: DocumentPatch) -> None:
        document = self.document(document_id)
        document.name = patch.name or document.name
        document.content = patch.content or document.content
        if patch.name is not None or patch.content is not None:
            document.updated_at = self._clock()

    def delete_document(self, document_id: str) -> None:
        self._documents.pop(self.document(document_id).id)
        for avatar in self._avatars.values():
            if document_id in avatar.document_ids:
                avatar.document_ids.remove(document_id)

    def users_of(self, document_id: str) -> list[AvatarRecord]:
        return [a for a in self._avatars.values() if document_id in a.document_ids]

    def _start_processing(self, avatar: AvatarRecord, reference_image: str) -> None:
        avatar.reference_image = reference_image
        avatar.processed_at = self._clock() + self._processing()
        avatar.fails = image_fails(reference_image)

    def _processing(self) -> timedelta:
        return timedelta(seconds=self._config.avatar_processing_seconds)

    def _check_documents(self, document_ids: tuple[str, ...]) -> None:
        missing = [
            Issue("custom", ("documentIds", index), f"Document {document_id} does not exist")
            for index, document_id in enumerate(document_ids)
            if document_id not in self._documents
        ]
        if missing:
            raise SandboxError(400, "Invalid request.", missing)
