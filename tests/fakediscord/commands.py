"""Application commands as the bot synced them, global and per guild.

Discord keeps a command's id when a bulk overwrite sends the same name again, and an
interaction names the command by that id, its options by name and type. The scenario
API builds its interactions from what is stored here, so a test can only invoke what
the bot really registered, with the option types the bot really declared.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakediscord.ids import Snowflakes
from tests.fakediscord.payloads import Json

SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10
ATTACHMENT = 11
CHAT_INPUT = 1
# "Application Commands > Registering a Command": per scope and type.
MAX_COMMANDS = {CHAT_INPUT: 100, 2: 15, 3: 15}


@dataclass(frozen=True)
class SyncedCommand:
    """One stored command and the scope it lives in (None: global)."""

    data: Mapping[str, Any]
    guild_id: int | None

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def type(self) -> int:
        return int(self.data.get("type", CHAT_INPUT))

    @property
    def default_member_permissions(self) -> int | None:
        value = self.data.get("default_member_permissions")
        return None if value is None else int(value)

    @property
    def options(self) -> list[Mapping[str, Any]]:
        return list(self.data.get("options") or [])


class CommandRegistry:
    """Commands per scope, with ids that survive re-syncs of the same name."""

    def __init__(self, ids: Snowflakes, application_id: int) -> None:
        self._ids = ids
        self._application_id = application_id
        self._scopes: dict[int | None, dict[tuple[str, int], Json]] = {}
        self.changed = asyncio.Event()
        self.sync_count = 0

    def in_scope(self, guild_id: int | None) -> list[Json]:
        return [copy.deepcopy(c) for c in self._scopes.get(guild_id, {}).values()]

    def overwrite(
        self, guild_id: int | None, definitions: Sequence[Mapping[str, Any]]
    ) -> list[Json]:
        """PUT: replace the scope's commands, keeping the ids of names that stay."""
        old = self._scopes.get(guild_id, {})
        new: dict[tuple[str, int], Json] = {}
        for definition in definitions:
            key = (str(definition["name"]), int(definition.get("type") or CHAT_INPUT))
            previous = old.get(key)
            new[key] = self._stored(definition, guild_id, previous)
        self._scopes[guild_id] = new
        self.sync_count += 1
        self._notify()
        return self.in_scope(guild_id)

    def would_exceed(self, guild_id: int | None, definition: Mapping[str, Any]) -> bool:
        """Whether creating `definition` (not replacing one of its name) passes the number of
        commands of its type a scope may hold."""
        kind = int(definition.get("type") or CHAT_INPUT)
        scope = self._scopes.get(guild_id, {})
        if (str(definition.get("name")), kind) in scope:
            return False
        return sum(1 for _, k in scope if k == kind) >= MAX_COMMANDS.get(kind, 0)

    def upsert(self, guild_id: int | None, definition: Mapping[str, Any]) -> tuple[Json, bool]:
        """POST: create or replace one command; returns it and whether it was new."""
        scope = self._scopes.setdefault(guild_id, {})
        key = (str(definition["name"]), int(definition.get("type") or CHAT_INPUT))
        previous = scope.get(key)
        scope[key] = self._stored(definition, guild_id, previous)
        self._notify()
        return copy.deepcopy(scope[key]), previous is None

    def get(self, guild_id: int | None, command_id: int) -> Json | None:
        for command in self._scopes.get(guild_id, {}).values():
            if int(command["id"]) == command_id:
                return command
        return None

    def patch(
        self, guild_id: int | None, command_id: int, changes: Mapping[str, Any]
    ) -> Json | None:
        command = self.get(guild_id, command_id)
        if command is None:
            return None
        merged = {**command, **{k: v for k, v in changes.items() if k != "id"}}
        scope = self._scopes[guild_id]
        for key, value in list(scope.items()):
            if value is command:
                del scope[key]
        stored = self._stored(merged, guild_id, command)
        scope[(stored["name"], int(stored.get("type", CHAT_INPUT)))] = stored
        self._notify()
        return copy.deepcopy(stored)

    def delete(self, guild_id: int | None, command_id: int) -> bool:
        scope = self._scopes.get(guild_id, {})
        for key, command in list(scope.items()):
            if int(command["id"]) == command_id:
                del scope[key]
                self._notify()
                return True
        return False

    def find(self, name: str, guild_id: int | None) -> SyncedCommand | None:
        """What a member in `guild_id` sees under `name`: guild commands first, then global."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self._scopes.get(scope, {}).values():
                if command["name"] == name and int(command.get("type", CHAT_INPUT)) == CHAT_INPUT:
                    return SyncedCommand(copy.deepcopy(command), scope)
        return None

    def names(self, guild_id: int | None) -> list[str]:
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        return sorted({c["name"] for s in scopes for c in self._scopes.get(s, {}).values()})

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def _stored(
        self,
        definition: Mapping[str, Any],
        guild_id: int | None,
        previous: Mapping[str, Any] | None,
    ) -> Json:
        """The command as Discord answers it: ids, version, permissions as a string."""
        data: Json = {
            k: copy.deepcopy(v) for k, v in definition.items() if v is not None and k != "id"
        }
        data["id"] = previous["id"] if previous is not None else str(self._ids.next())
        data["application_id"] = str(self._application_id)
        data["version"] = str(self._ids.next())
        data.setdefault("type", CHAT_INPUT)
        data.setdefault("description", "")
        data.setdefault("nsfw", False)
        permissions = definition.get("default_member_permissions")
        data["default_member_permissions"] = None if permissions is None else str(permissions)
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            data.pop("contexts", None)
        else:
            data.setdefault("contexts", None)
            data.setdefault("integration_types", [0])
            data.setdefault("dm_permission", True)
        data.setdefault("integration_types", [0])
        if "options" in data:
            data["options"] = [_option_response(o) for o in data["options"]]
        return data


def _option_response(option: Mapping[str, Any]) -> Json:
    data: Json = {k: copy.deepcopy(v) for k, v in option.items() if v is not None}
    if data.get("required") is False:
        del data["required"]
    if "options" in data:
        data["options"] = [_option_response(o) for o in data["options"]]
    return data
