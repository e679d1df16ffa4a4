"""Messages the bot creates and edits: storage, and a test's view of them.

The fake keeps each message as the JSON Discord would return for it, with the bytes of
its files, so a reply to the bot is exact and a test can read what the member would see.
What Discord refuses in a message is judged before it gets here (`rules.py`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import discord

from tests.fakediscord.entities import User, utcnow
from tests.fakediscord.ids import Snowflakes
from tests.fakediscord.payloads import Json, iso, timestamp_of, user_payload

EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
# Flags a bot may set when it sends or edits a message; Discord ignores the rest.
SETTABLE_FLAGS = EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request (`files[n]`)."""

    field: str
    filename: str
    content_type: str | None
    data: bytes

    @property
    def index(self) -> int | None:
        """The n of `files[n]`, which the body's `attachments[].id` refers to."""
        if self.field.startswith("files[") and self.field.endswith("]"):
            inner = self.field[6:-1]
            return int(inner) if inner.isdigit() else None
        return None


@dataclass(eq=False)
class StoredMessage:
    """A message as the fake holds it: Discord's JSON plus the bytes of its files."""

    id: int
    channel_id: int
    data: Json
    files: dict[int, bytes] = field(default_factory=dict)
    deleted: bool = False


class MessageStore:
    """Every message the bot has made, by id and by channel."""

    def __init__(self, ids: Snowflakes, base_url: str) -> None:
        self._ids = ids
        self._base_url = base_url
        self._messages: dict[int, StoredMessage] = {}

    def __iter__(self) -> Iterator[StoredMessage]:
        return iter(self._messages.values())

    def get(self, message_id: int) -> StoredMessage | None:
        found = self._messages.get(message_id)
        return None if found is None or found.deleted else found

    def in_channel(self, channel_id: int) -> list[StoredMessage]:
        return [m for m in self._messages.values() if m.channel_id == channel_id and not m.deleted]

    def create(
        self,
        *,
        channel_id: int,
        author: User,
        body: Mapping[str, Any],
        uploads: Sequence[Upload] = (),
        extra_flags: int = 0,
        message_type: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> StoredMessage:
        """A new message from `author` built from a create-message request body."""
        message_id = self._ids.next()
        stored = StoredMessage(
            id=message_id,
            channel_id=channel_id,
            data={
                "id": str(message_id),
                "channel_id": str(channel_id),
                "type": message_type,
                "author": user_payload(author),
                "content": "",
                "embeds": [],
                "components": [],
                "attachments": [],
                "mentions": [],
                "mention_roles": [],
                "mention_everyone": False,
                "pinned": False,
                "tts": bool(body.get("tts") or False),
                "timestamp": timestamp_of(message_id),
                "edited_timestamp": None,
                "flags": 0,
                **(extra or {}),
            },
        )
        self._apply(stored, body, uploads, keep_existing=False)
        stored.data["flags"] = (stored.data["flags"] & SETTABLE_FLAGS) | extra_flags
        self._messages[message_id] = stored
        return stored

    def edit(
        self, stored: StoredMessage, body: Mapping[str, Any], uploads: Sequence[Upload] = ()
    ) -> StoredMessage:
        """Apply an edit request; fields absent from `body` stay as they were."""
        flags_before = stored.data["flags"]
        self._apply(stored, body, uploads, keep_existing=True)
        # Ephemerality and the loading state are not the editor's to change.
        kept = flags_before & EPHEMERAL
        stored.data["flags"] = (stored.data["flags"] & SETTABLE_FLAGS & ~EPHEMERAL) | kept
        stored.data["edited_timestamp"] = iso(utcnow())
        return stored

    def finish_loading(self, stored: StoredMessage) -> None:
        """The deferred 'thinking' placeholder becomes the real reply."""
        stored.data["flags"] &= ~LOADING

    def _apply(
        self,
        stored: StoredMessage,
        body: Mapping[str, Any],
        uploads: Sequence[Upload],
        *,
        keep_existing: bool,
    ) -> None:
        data = stored.data
        if "content" in body:
            data["content"] = body["content"] or ""
        if "embeds" in body:
            data["embeds"] = [_embed_response(e) for e in body["embeds"] or []]
        if "components" in body:
            counter = iter(range(1, 10_000))
            data["components"] = [_component_response(c, counter) for c in body["components"] or []]
        if "flags" in body and body["flags"] is not None:
            data["flags"] = int(body["flags"])
        if "attachments" in body or uploads:
            self._apply_attachments(stored, body.get("attachments"), uploads, keep_existing)

    def _apply_attachments(
        self,
        stored: StoredMessage,
        wanted: Sequence[Mapping[str, Any]] | None,
        uploads: Sequence[Upload],
        keep_existing: bool,
    ) -> None:
        by_index = {upload.index: upload for upload in uploads if upload.index is not None}
        existing = {att["id"]: att for att in stored.data["attachments"]} if keep_existing else {}
        result: list[Json] = []
        files: dict[int, bytes] = {}
        if wanted is None:
            # No attachments list: keep what is there and add every uploaded file.
            result.extend(existing.values())
            files.update({int(k): stored.files[int(k)] for k in existing})
            entries: list[tuple[Upload, Mapping[str, Any]]] = [(u, {}) for u in uploads]
        else:
            entries = []
            for item in wanted:
                key = str(item.get("id"))
                if key in existing:
                    result.append(existing[key])
                    files[int(key)] = stored.files[int(key)]
                elif key.isdigit() and int(key) in by_index:
                    entries.append((by_index[int(key)], item))
        for upload, meta in entries:
            attachment_id = self._ids.next()
            filename = str(meta.get("filename") or upload.filename)
            path = f"{stored.channel_id}/{attachment_id}/{quote(filename)}"
            url = f"{self._base_url}/attachments/{path}"
            item_json: Json = {
                "id": str(attachment_id),
                "filename": filename,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
            }
            if upload.content_type:
                item_json["content_type"] = upload.content_type
            if meta.get("description"):
                item_json["description"] = meta["description"]
            result.append(item_json)
            files[attachment_id] = upload.data
        stored.data["attachments"] = result
        stored.files = files


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _embed_response(embed: Mapping[str, Any]) -> Json:
    data: Json = _drop_nulls(copy.deepcopy(dict(embed)))
    data.setdefault("type", "rich")
    for item in data.get("fields", []):
        item.setdefault("inline", False)
    return data


def _component_response(component: Mapping[str, Any], counter: Iterator[int]) -> Json:
    data: Json = _drop_nulls(copy.deepcopy(dict(component)))
    data.setdefault("id", next(counter))
    if "components" in data:
        data["components"] = [_component_response(c, counter) for c in data["components"]]
    if isinstance(data.get("component"), dict):
        data["component"] = _component_response(data["component"], counter)
    if isinstance(data.get("accessory"), dict):
        data["accessory"] = _component_response(data["accessory"], counter)
    return data


# ---------------------------------------------------------------------------
# What a test sees


@dataclass(frozen=True)
class SentFile:
    """A file the bot attached to a message."""

    id: int
    filename: str
    content_type: str | None
    data: bytes
    url: str
    description: str | None = None


@dataclass(frozen=True)
class Button:
    custom_id: str | None
    label: str | None
    style: int
    disabled: bool
    url: str | None
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class Message:
    """A snapshot of one message as the member would see it."""

    id: int
    channel_id: int
    content: str
    embeds: tuple[discord.Embed, ...]
    components: tuple[Mapping[str, Any], ...]
    flags: int
    files: tuple[SentFile, ...]
    raw: Mapping[str, Any]

    @classmethod
    def from_stored(cls, stored: StoredMessage) -> Message:
        data = copy.deepcopy(stored.data)
        files = tuple(
            SentFile(
                id=int(att["id"]),
                filename=att["filename"],
                content_type=att.get("content_type"),
                data=stored.files.get(int(att["id"]), b""),
                url=att["url"],
                description=att.get("description"),
            )
            for att in data["attachments"]
        )
        return cls(
            id=stored.id,
            channel_id=stored.channel_id,
            content=data["content"],
            embeds=tuple(discord.Embed.from_dict(e) for e in data["embeds"]),
            components=tuple(data["components"]),
            flags=int(data["flags"]),
            files=files,
            raw=data,
        )

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Still the deferred 'is thinking...' placeholder."""
        return bool(self.flags & LOADING)

    @property
    def embed(self) -> discord.Embed:
        """The only embed; fails when there is not exactly one."""
        if len(self.embeds) != 1:
            raise AssertionError(
                f"expected one embed, message has {len(self.embeds)}: {self.text!r}"
            )
        return self.embeds[0]

    @property
    def buttons(self) -> list[Button]:
        return [
            Button(
                custom_id=c.get("custom_id"),
                label=c.get("label"),
                style=int(c.get("style", 1)),
                disabled=bool(c.get("disabled", False)),
                url=c.get("url"),
                raw=c,
            )
            for c in walk_components(self.components)
            if c.get("type") == 2
        ]

    def button(self, key: str) -> Button:
        """The button whose custom_id or label is `key`."""
        for candidate in self.buttons:
            if key in (candidate.custom_id, candidate.label):
                return candidate
        labels = [(b.custom_id, b.label) for b in self.buttons]
        raise AssertionError(f"no button {key!r} on message; buttons: {labels}")

    @property
    def text(self) -> str:
        """Everything readable in the message, one piece per line, for `in` assertions."""
        parts = [self.content] if self.content else []
        for embed in self.raw["embeds"]:
            parts.extend(
                str(piece)
                for piece in (
                    (embed.get("author") or {}).get("name"),
                    embed.get("title"),
                    embed.get("description"),
                )
                if piece
            )
            for item in embed.get("fields", []):
                parts.extend((item.get("name", ""), item.get("value", "")))
            if (embed.get("footer") or {}).get("text"):
                parts.append(embed["footer"]["text"])
        for component in walk_components(self.components):
            for key in ("content", "label"):
                if component.get(key):
                    parts.append(str(component[key]))
        return "\n".join(parts)


def walk_components(components: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every component in a tree of rows, containers, sections and labels."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        for key in ("component", "accessory"):
            child = component.get(key)
            if isinstance(child, Mapping):
                yield from walk_components([child])
