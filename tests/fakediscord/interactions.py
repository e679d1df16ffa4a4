"""Interactions in flight: Discord's acknowledgement rules and what a test can await.

Discord gives a bot 3 seconds to acknowledge an interaction, accepts one acknowledgement
only, and lets the interaction token drive followups for 15 minutes. `InteractionRecord`
holds that state for the REST handlers; `InteractionResult` is the test's handle on it,
with methods that wait (bounded) for the acknowledgement, the reply, its edits and
followups, the modal or the autocomplete choices.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakediscord.entities import Guild, Member, User
from tests.fakediscord.messages import EPHEMERAL, Message, MessageStore, walk_components
from tests.fakediscord.sharding import Shard


class InteractionType(enum.IntEnum):
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType(enum.IntEnum):
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9
    LAUNCH_ACTIVITY = 12


ALLOWED_CALLBACKS: Mapping[InteractionType, frozenset[CallbackType]] = {
    InteractionType.APPLICATION_COMMAND: frozenset(
        {CallbackType.CHANNEL_MESSAGE, CallbackType.DEFERRED_CHANNEL_MESSAGE, CallbackType.MODAL}
    ),
    InteractionType.MESSAGE_COMPONENT: frozenset(
        {
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
            CallbackType.UPDATE_MESSAGE,
            CallbackType.MODAL,
        }
    ),
    InteractionType.AUTOCOMPLETE: frozenset({CallbackType.AUTOCOMPLETE_RESULT}),
    InteractionType.MODAL_SUBMIT: frozenset(
        {
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
            CallbackType.UPDATE_MESSAGE,
        }
    ),
}


@dataclass(frozen=True)
class Ack:
    """The bot's acknowledgement of an interaction (its interaction callback)."""

    type: CallbackType
    data: Mapping[str, Any] | None
    latency: float  # seconds from INTERACTION_CREATE sent to callback received

    @property
    def deferred(self) -> bool:
        return self.type in (
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
        )

    @property
    def ephemeral(self) -> bool:
        return bool(int((self.data or {}).get("flags") or 0) & EPHEMERAL)


@dataclass(frozen=True)
class Rejection:
    """A callback or webhook call the fake refused, as Discord would have."""

    status: int
    code: int
    reason: str


@dataclass(frozen=True)
class Choice:
    name: str
    value: str | int | float


@dataclass(frozen=True)
class ModalField:
    """An input in a modal: a text input or a select inside a label or action row."""

    custom_id: str
    component_type: int
    label: str | None
    style: int | None
    required: bool
    min_length: int | None
    max_length: int | None
    value: str | None
    placeholder: str | None
    options: tuple[str, ...]
    min_values: int | None
    max_values: int | None


@dataclass(frozen=True)
class Modal:
    """A modal the bot showed, and the interaction it was shown for."""

    custom_id: str
    title: str
    components: tuple[Mapping[str, Any], ...]
    origin: InteractionRecord

    @property
    def fields(self) -> list[ModalField]:
        found: list[ModalField] = []
        self._collect(self.components, None, found)
        return found

    def _collect(
        self, components: Sequence[Mapping[str, Any]], label: str | None, found: list[ModalField]
    ) -> None:
        for component in components:
            kind = int(component.get("type", 0))
            if kind == 18 and isinstance(component.get("component"), Mapping):
                self._collect([component["component"]], component.get("label"), found)
            elif kind == 1:
                self._collect(component.get("components") or [], label, found)
            elif kind in (3, 4, 5, 6, 7, 8, 19):
                found.append(
                    ModalField(
                        custom_id=str(component["custom_id"]),
                        component_type=kind,
                        label=component.get("label") or label,
                        style=component.get("style"),
                        required=bool(component.get("required", True)),
                        min_length=component.get("min_length"),
                        max_length=component.get("max_length"),
                        value=component.get("value"),
                        placeholder=component.get("placeholder"),
                        options=tuple(str(o["value"]) for o in component.get("options") or []),
                        min_values=component.get("min_values"),
                        max_values=component.get("max_values"),
                    )
                )

    def field(self, custom_id: str) -> ModalField:
        for candidate in self.fields:
            if candidate.custom_id == custom_id:
                return candidate
        raise KeyError(f"modal {self.custom_id!r} has no input {custom_id!r}")


@dataclass(eq=False)
class InteractionRecord:
    """The fake's state for one interaction."""

    id: int
    token: str
    type: InteractionType
    payload: dict[str, Any]
    channel_id: int
    user: User
    guild: Guild | None
    member: Member | None
    label: str
    source_message_id: int | None = None
    trigger: InteractionRecord | None = None  # for a modal submit: the interaction that opened it
    dispatched_at: float | None = None
    expires_at: float = float("inf")
    ack: Ack | None = None
    original_id: int | None = None
    original_deleted: bool = False
    original_edits: int = 0
    followup_ids: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    modal: Modal | None = None
    choices: tuple[Choice, ...] | None = None
    delivered_to: tuple[Shard, ...] = ()  # the shard of each gateway session it went to
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def age(self) -> float:
        return 0.0 if self.dispatched_at is None else time.monotonic() - self.dispatched_at

    def token_expired(self) -> bool:
        return time.monotonic() >= self.expires_at

    def touch(self) -> None:
        """Wake everything waiting on this interaction."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{self.label}: timed out after {timeout:.1f} s waiting for {what}"
                )
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue


class InteractionStore:
    def __init__(self) -> None:
        self._by_id: dict[int, InteractionRecord] = {}
        self._by_token: dict[str, InteractionRecord] = {}

    def add(self, record: InteractionRecord) -> None:
        self._by_id[record.id] = record
        self._by_token[record.token] = record

    def get(self, interaction_id: int) -> InteractionRecord | None:
        return self._by_id.get(interaction_id)

    def by_token(self, token: str) -> InteractionRecord | None:
        return self._by_token.get(token)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())


class InteractionResult:
    """A test's handle on one interaction it sent: await what the bot did with it."""

    def __init__(self, record: InteractionRecord, messages: MessageStore, ack_deadline: float):
        self._record = record
        self._messages = messages
        self._ack_deadline = ack_deadline

    def __repr__(self) -> str:
        return f"<InteractionResult {self._record.label} id={self._record.id}>"

    @property
    def id(self) -> int:
        return self._record.id

    @property
    def token(self) -> str:
        return self._record.token

    @property
    def payload(self) -> Mapping[str, Any]:
        """The INTERACTION_CREATE data the bot received."""
        return self._record.payload

    @property
    def delivered_to(self) -> tuple[Shard, ...]:
        """The shard of every gateway session INTERACTION_CREATE went to."""
        return self._record.delivered_to

    @property
    def rejections(self) -> list[Rejection]:
        """Callbacks and webhook calls the fake refused (late, duplicate, expired token...)."""
        return list(self._record.rejections)

    @property
    def record(self) -> InteractionRecord:
        return self._record

    def expire_token(self) -> None:
        """Make the interaction token expire now, as it does 15 minutes after the interaction."""
        self._record.expires_at = time.monotonic()

    async def ack(self, timeout: float | None = None) -> Ack:  # noqa: ASYNC109
        """The acknowledgement; fails like Discord does if it is missing after 3 s."""
        record = self._record
        wait = self._ack_deadline + 0.5 if timeout is None else timeout
        try:
            await record.wait_until(
                lambda: record.ack is not None or bool(record.rejections), wait, "acknowledgement"
            )
        except TimeoutError:
            raise AssertionError(
                f"{record.label}: the bot did not acknowledge within {self._ack_deadline:.1f} s; "
                "Discord shows 'The application did not respond'"
            ) from None
        if record.ack is None:
            reasons = "; ".join(r.reason for r in record.rejections)
            raise AssertionError(f"{record.label}: acknowledgement refused by Discord: {reasons}")
        return record.ack

    async def original(self, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        """The original response as it is now (for a deferral: possibly still 'thinking')."""
        ack = await self.ack()
        if ack.type in (CallbackType.MODAL, CallbackType.AUTOCOMPLETE_RESULT):
            raise AssertionError(
                f"{self._record.label}: answered with {ack.type.name}, not a message"
            )
        await self._record.wait_until(
            lambda: self._record.original_id is not None, timeout, "the original response"
        )
        return self._snapshot(self._record.original_id)

    async def final(self, timeout: float = 10.0) -> Message:  # noqa: ASYNC109
        """The original response once it is complete: a deferral that has been edited."""
        ack = await self.ack()
        record = self._record

        def done() -> bool:
            if record.original_id is None:
                return False
            stored = self._messages.get(record.original_id)
            if ack.type is CallbackType.DEFERRED_UPDATE_MESSAGE:
                return record.original_edits > 0
            return stored is not None and not Message.from_stored(stored).loading

        await record.wait_until(done, timeout, "the final response")
        return await self.original()

    async def followups(self, count: int = 1, timeout: float = 5.0) -> list[Message]:  # noqa: ASYNC109
        """Followup messages (other than the one that completed a deferral), oldest first."""
        await self.ack()
        record = self._record
        await record.wait_until(
            lambda: len(record.followup_ids) >= count, timeout, f"{count} followup(s)"
        )
        return [self._snapshot(mid) for mid in record.followup_ids]

    async def followup(self, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        return (await self.followups(1, timeout))[0]

    async def modal(self, timeout: float | None = None) -> Modal:  # noqa: ASYNC109
        ack = await self.ack(timeout)
        if self._record.modal is None:
            raise AssertionError(
                f"{self._record.label}: answered with {ack.type.name}, not a modal"
            )
        return self._record.modal

    async def choices(self, timeout: float | None = None) -> list[Choice]:  # noqa: ASYNC109
        ack = await self.ack(timeout)
        if self._record.choices is None:
            raise AssertionError(
                f"{self._record.label}: answered with {ack.type.name}, not choices"
            )
        return list(self._record.choices)

    async def deleted(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until the bot deletes its original response."""
        await self._record.wait_until(lambda: self._record.original_deleted, timeout, "deletion")

    def _snapshot(self, message_id: int | None) -> Message:
        stored = None if message_id is None else self._messages.get(message_id)
        if stored is None:
            raise AssertionError(f"{self._record.label}: the message was deleted")
        return Message.from_stored(stored)


def submitted_components(modal: Modal, values: Mapping[str, str | Sequence[str]]) -> list[Any]:
    """The `components` of a MODAL_SUBMIT, mirroring the modal's own layout."""

    def answer(component: Mapping[str, Any]) -> dict[str, Any]:
        custom_id = str(component["custom_id"])
        kind = int(component["type"])
        out: dict[str, Any] = {"type": kind, "custom_id": custom_id}
        if "id" in component:
            out["id"] = component["id"]
        given = values.get(custom_id)
        if kind == 4:
            out["value"] = "" if given is None else str(given)
        else:
            out["values"] = (
                [] if given is None else ([given] if isinstance(given, str) else list(given))
            )
        return out

    result: list[Any] = []
    for component in modal.components:
        kind = int(component.get("type", 0))
        if kind == 18 and isinstance(component.get("component"), Mapping):
            entry = {"type": 18, "component": answer(component["component"])}
            if "id" in component:
                entry["id"] = component["id"]
            result.append(entry)
        elif kind == 1:
            row = {"type": 1, "components": [answer(c) for c in component.get("components") or []]}
            if "id" in component:
                row["id"] = component["id"]
            result.append(row)
        elif kind == 10 and "id" in component:
            result.append({"type": 10, "id": component["id"]})
    return result


def check_modal_values(modal: Modal, values: Mapping[str, str | Sequence[str]]) -> None:
    """Refuse a submission Discord's client would not allow."""
    known = {f.custom_id: f for f in modal.fields}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(
            f"modal {modal.custom_id!r} has no inputs {sorted(unknown)}; it has {sorted(known)}"
        )
    for name, spec in known.items():
        given = values.get(name)
        if spec.component_type == 4:
            text = "" if given is None else str(given)
            if spec.required and not text:
                raise ValueError(f"modal input {name!r} is required")
            if text and spec.min_length is not None and len(text) < spec.min_length:
                raise ValueError(
                    f"modal input {name!r} needs at least {spec.min_length} characters"
                )
            if spec.max_length is not None and len(text) > spec.max_length:
                raise ValueError(
                    f"modal input {name!r} allows at most {spec.max_length} characters"
                )
        elif spec.required and not given:
            raise ValueError(f"modal input {name!r} is required")


def components_have_custom_id(
    components: Sequence[Mapping[str, Any]], custom_id: str
) -> Mapping[str, Any] | None:
    for component in walk_components(components):
        if component.get("custom_id") == custom_id:
            return component
    return None
