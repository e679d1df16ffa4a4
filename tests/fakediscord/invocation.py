"""Interaction payloads built from the commands the bot synced, as Discord's client builds them.

A member can only run a command the bot registered, fill the options it declared
(typed, within their choices and bounds), and see it only when they hold its default
permissions; the client refuses anything else before Discord ever sends it. The builder
refuses the same things with a `ValueError`/`CommandUnavailable` naming what was wrong,
so a test cannot pass by sending an interaction no member could produce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from tests.fakediscord import commands as opt
from tests.fakediscord.commands import SyncedCommand
from tests.fakediscord.entities import Attachment, Channel, Guild, Member, Role, User
from tests.fakediscord.ids import interaction_token
from tests.fakediscord.interactions import InteractionRecord, InteractionType
from tests.fakediscord.payloads import (
    Json,
    channel_payload,
    member_payload,
    partial_guild_payload,
    role_payload,
    user_payload,
)
from tests.fakediscord.state import DiscordState

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
GUILD_CONTEXT, BOT_DM_CONTEXT = 0, 1
OPTION_TYPE_NAMES = {
    opt.STRING: "string",
    opt.INTEGER: "integer",
    opt.BOOLEAN: "boolean",
    opt.USER: "user",
    opt.CHANNEL: "channel",
    opt.ROLE: "role",
    opt.MENTIONABLE: "mentionable",
    opt.NUMBER: "number",
    opt.ATTACHMENT: "attachment",
}


class CommandUnavailable(LookupError):
    """The member could not run this command in Discord's client."""


class PayloadBuilder:
    def __init__(self, state: DiscordState) -> None:
        self.state = state

    def record(
        self,
        kind: InteractionType,
        data: Json,
        *,
        label: str,
        guild: Guild | None,
        member: Member | None,
        user: User | None,
        channel: Channel | None,
        locale: str | None = None,
        message: Json | None = None,
        source_message_id: int | None = None,
        trigger: InteractionRecord | None = None,
    ) -> InteractionRecord:
        """A full INTERACTION_CREATE payload and the record the fake tracks it with."""
        state = self.state
        if guild is not None:
            if member is None:
                raise ValueError("an interaction in a guild needs member=")
            if member.guild is not guild:
                raise ValueError(f"{member.user.username} is not a member of {guild.name}")
            user = member.user
            channel = channel or guild.text_channel
        else:
            if user is None:
                raise ValueError(
                    "an interaction outside a guild needs user= (or guild= and member=)"
                )
            channel = channel or state.dm_channel(user)
        interaction_id = state.ids.next()
        token = interaction_token()
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(state.application_id),
            "type": int(kind),
            "data": data,
            "token": token,
            "version": 1,
            "app_permissions": str(state.bot_permissions_in(channel)),
            "locale": locale or user.locale,
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT if guild is None else guild.upload_limit,
            "channel_id": str(channel.id),
        }
        if guild is not None and member is not None:
            payload.update(
                guild=partial_guild_payload(guild),
                guild_id=str(guild.id),
                guild_locale=guild.locale,
                member=member_payload(member, permissions=member.permissions_in(channel)),
                channel=channel_payload(channel, permissions=member.permissions_in(channel)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=GUILD_CONTEXT,
            )
        else:
            payload.update(
                user=user_payload(user),
                channel=channel_payload(channel),
                authorizing_integration_owners={"0": "0"},
                context=BOT_DM_CONTEXT,
            )
        if message is not None:
            payload["message"] = message
        return InteractionRecord(
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            channel_id=channel.id,
            user=user,
            guild=guild,
            member=member,
            label=label,
            source_message_id=source_message_id,
            trigger=trigger,
        )

    # --- slash commands ------------------------------------------------------

    def command_data(
        self,
        command: SyncedCommand,
        path: Sequence[str],
        values: Mapping[str, Any],
        *,
        focused: str | None = None,
    ) -> Json:
        """`data` of an APPLICATION_COMMAND (or, with `focused`, AUTOCOMPLETE) interaction."""
        resolved: dict[str, dict[str, Json]] = {}
        declared = command.options
        chain: list[tuple[str, int]] = []
        for name in path:
            option = _find(declared, name, command.name)
            if int(option["type"]) not in (opt.SUB_COMMAND, opt.SUB_COMMAND_GROUP):
                raise ValueError(f"/{command.name}: {name!r} is not a subcommand")
            chain.append((name, int(option["type"])))
            declared = list(option.get("options") or [])
        if any(int(o["type"]) in (opt.SUB_COMMAND, opt.SUB_COMMAND_GROUP) for o in declared):
            names = [o["name"] for o in declared]
            raise ValueError(f"/{command.name} {' '.join(path)}: choose a subcommand from {names}")
        leaf = self._leaf_options(command, declared, values, resolved, focused)
        options: list[Json] = leaf
        for name, kind in reversed(chain):
            options = [{"name": name, "type": kind, "options": options}]
        data: Json = {"id": str(command.id), "name": command.name, "type": command.type}
        if options:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        return data

    def _leaf_options(
        self,
        command: SyncedCommand,
        declared: Sequence[Mapping[str, Any]],
        values: Mapping[str, Any],
        resolved: dict[str, dict[str, Json]],
        focused: str | None,
    ) -> list[Json]:
        by_name = {str(o["name"]): o for o in declared}
        unknown = set(values) - set(by_name)
        if unknown:
            raise ValueError(
                f"/{command.name} has no options {sorted(unknown)}; it has {sorted(by_name)}"
            )
        out: list[Json] = []
        for name, spec in by_name.items():
            if name not in values:
                if spec.get("required") and name != focused:
                    raise ValueError(f"/{command.name}: option {name!r} is required")
                continue
            value = values[name]
            if name == focused:
                if not spec.get("autocomplete"):
                    raise ValueError(f"/{command.name}: option {name!r} has no autocomplete")
                out.append(
                    {"name": name, "type": int(spec["type"]), "value": str(value), "focused": True}
                )
                continue
            out.append(
                {
                    "name": name,
                    "type": int(spec["type"]),
                    "value": self._value(command, spec, value, resolved),
                }
            )
        return out

    def _value(
        self,
        command: SyncedCommand,
        spec: Mapping[str, Any],
        value: Any,
        resolved: dict[str, dict[str, Json]],
    ) -> Any:
        kind, name = int(spec["type"]), f"/{command.name} {spec['name']}"
        expected = OPTION_TYPE_NAMES.get(kind, str(kind))
        if kind == opt.STRING:
            if not isinstance(value, str):
                raise ValueError(f"{name}: expected a string, got {value!r}")
            _check_bounds(
                name, len(value), spec.get("min_length"), spec.get("max_length"), "length"
            )
        elif kind in (opt.INTEGER, opt.NUMBER):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}: expected a {expected}, got {value!r}")
            if kind == opt.INTEGER and not float(value).is_integer():
                raise ValueError(f"{name}: expected an integer, got {value!r}")
            _check_bounds(name, value, spec.get("min_value"), spec.get("max_value"), "value")
        elif kind == opt.BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError(f"{name}: expected a boolean, got {value!r}")
        elif kind == opt.ATTACHMENT:
            if not isinstance(value, Attachment):
                raise ValueError(f"{name}: expected an Attachment, got {value!r}")
            return self._attachment(value, resolved)
        elif kind in (opt.USER, opt.CHANNEL, opt.ROLE, opt.MENTIONABLE):
            return self._mention(name, kind, value, resolved)
        choices = spec.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(
                f"{name}: {value!r} is not one of the choices {[c['value'] for c in choices]}"
            )
        return value

    def _attachment(self, attachment: Attachment, resolved: dict[str, dict[str, Json]]) -> str:
        attachment_id = self.state.ids.next()
        self.state.blobs[attachment_id] = (attachment.data, attachment.content_type)
        # Discord's CDN links carry the file name percent-encoded, whatever it holds.
        url = f"{self.state.base_url}/attachments/0/{attachment_id}/{quote(attachment.filename)}"
        item: Json = {
            "id": str(attachment_id),
            "filename": attachment.filename,
            "size": len(attachment.data),
            "url": url,
            "proxy_url": url,
            "ephemeral": True,
        }
        for key in ("content_type", "width", "height", "description"):
            if getattr(attachment, key) is not None:
                item[key] = getattr(attachment, key)
        resolved.setdefault("attachments", {})[str(attachment_id)] = item
        return str(attachment_id)

    def _mention(
        self, name: str, kind: int, value: Any, resolved: dict[str, dict[str, Json]]
    ) -> str:
        if isinstance(value, Member) and kind in (opt.USER, opt.MENTIONABLE):
            member = member_payload(value, with_permissions=True)
            member.pop("user")
            resolved.setdefault("users", {})[str(value.id)] = user_payload(value.user)
            resolved.setdefault("members", {})[str(value.id)] = member
            return str(value.id)
        if isinstance(value, User) and kind in (opt.USER, opt.MENTIONABLE):
            resolved.setdefault("users", {})[str(value.id)] = user_payload(value)
            return str(value.id)
        if isinstance(value, Role) and kind in (opt.ROLE, opt.MENTIONABLE):
            resolved.setdefault("roles", {})[str(value.id)] = role_payload(value)
            return str(value.id)
        if isinstance(value, Channel) and kind == opt.CHANNEL:
            data = channel_payload(value, permissions=(1 << 51) - 1)
            resolved.setdefault("channels", {})[str(value.id)] = {
                k: data[k] for k in ("id", "name", "type", "permissions", "guild_id") if k in data
            }
            return str(value.id)
        raise ValueError(f"{name}: {value!r} cannot fill a {OPTION_TYPE_NAMES[kind]} option")


def check_available(command: SyncedCommand, member: Member | None, *, in_dm: bool) -> None:
    """Refuse what Discord's client would hide from this member."""
    if in_dm:
        contexts = command.data.get("contexts")
        allowed = command.guild_id is None and (
            BOT_DM_CONTEXT in contexts
            if contexts is not None
            else command.data.get("dm_permission", True)
        )
        if not allowed:
            raise CommandUnavailable(f"/{command.name} is not available in DMs")
        return
    required = command.default_member_permissions
    if member is not None and required is not None and not member.has(required):
        raise CommandUnavailable(
            f"/{command.name} is hidden from {member.user.username}: it needs permissions "
            f"{required} (default_member_permissions) and they have {member.permissions}; pass "
            "permission_override=True to model an admin granting it in Integrations settings"
        )


def split_name(name: str, subcommand: str | Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    """'avatar create' or ('avatar', subcommand='create') -> ('avatar', ('create',))."""
    head, *rest = name.split()
    if subcommand is None:
        extra: tuple[str, ...] = ()
    elif isinstance(subcommand, str):
        extra = tuple(subcommand.split())
    else:
        extra = tuple(subcommand)
    return head, (*rest, *extra)


def _find(options: Sequence[Mapping[str, Any]], name: str, command: str) -> Mapping[str, Any]:
    for option in options:
        if option["name"] == name:
            return option
    raise ValueError(
        f"/{command} has no subcommand {name!r}; it has {[o['name'] for o in options]}"
    )


def _check_bounds(
    name: str, value: float, low: float | None, high: float | None, what: str
) -> None:
    if low is not None and value < low:
        raise ValueError(f"{name}: {what} {value} is below the minimum {low}")
    if high is not None and value > high:
        raise ValueError(f"{name}: {what} {value} is above the maximum {high}")
