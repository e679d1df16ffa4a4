"""`FakeDiscord`: the server the real bot connects to, and the scenario API tests drive it with.

One aiohttp application on 127.0.0.1 (a free port) serves REST under `/api/v10`, the
gateway websocket at `/gateway` and attachment downloads at `/attachments/...`. Tests act
as Discord's users: they create guilds and members, run slash commands, press buttons,
submit modals and ask autocomplete, then await what the bot did (see `InteractionResult`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakediscord.commands import SyncedCommand
from tests.fakediscord.entities import (
    DEFAULT_BOT,
    DEFAULT_EVERYONE,
    Attachment,
    Channel,
    Guild,
    Member,
    Overwrite,
    Permission,
    Role,
    User,
    utcnow,
)
from tests.fakediscord.gateway import Gateway, Identity
from tests.fakediscord.honesty import honesty_middleware
from tests.fakediscord.interactions import (
    Choice,
    InteractionRecord,
    InteractionResult,
    InteractionType,
    Modal,
    check_modal_values,
    components_have_custom_id,
    submitted_components,
)
from tests.fakediscord.invocation import PayloadBuilder, check_available, split_name
from tests.fakediscord.messages import Message
from tests.fakediscord.openapi import DiscordSpec
from tests.fakediscord.payloads import (
    Json,
    channel_payload,
    guild_create_payload,
    role_payload,
    user_payload,
)
from tests.fakediscord.ratelimits import Injection
from tests.fakediscord.reference import discord_openapi_path
from tests.fakediscord.rest import Routes
from tests.fakediscord.sharding import Shard
from tests.fakediscord.state import DiscordState, RestCall, Violation

Who = Member | User


class HonestyError(AssertionError):
    """The bot sent requests that real Discord would have refused."""


class FakeDiscord:
    """A Discord for one bot, on loopback. Create with `await FakeDiscord.start()`."""

    def __init__(
        self,
        state: DiscordState,
        gateway: Gateway,
        spec: DiscordSpec | None,
        runner: web.AppRunner,
    ) -> None:
        self.state = state
        self.gateway = gateway
        self.spec = spec
        self._runner = runner
        self._builder = PayloadBuilder(state)

    # --- lifecycle -------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        *,
        validate: bool = True,
        spec_path: Path | None = None,
        check_responses: bool = True,
        ack_deadline: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        token: str | None = None,
        heartbeat_interval_ms: int = 41_250,
        privileged_intents_allowed: int = 0,
        rate_limit: int = 50,
        max_concurrency: int = 1,
    ) -> FakeDiscord:
        """Bind a free port and serve.

        `validate` checks every REST request against Discord's OpenAPI description (found
        by `reference.py` unless `spec_path` is given); it raises FileNotFoundError when the
        description is missing, so callers can skip. `check_responses` also holds the
        fake's own replies to it. `token` makes the fake accept only that bot token.
        `max_concurrency` is the session start limit's IDENTIFYs per 5 s that
        `GET /gateway/bot` reports (1 for most bots; Discord grants large ones more).
        """
        spec = None
        if validate:
            path = spec_path or discord_openapi_path()
            if path is None:
                raise FileNotFoundError("Discord's OpenAPI description (discord-openapi.json)")
            spec = DiscordSpec.load(path)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        base_url = f"http://127.0.0.1:{port}"
        state = DiscordState(
            base_url=base_url, ack_deadline=ack_deadline, token_lifetime=token_lifetime, token=token
        )
        state.ratelimits.limit = rate_limit
        state.session_starts.max_concurrency = max_concurrency
        app = web.Application(
            middlewares=[honesty_middleware(state, spec, check_responses=check_responses)],
            client_max_size=64 * 1024 * 1024,
        )
        gateway = Gateway(
            _Hooks(state),
            heartbeat_interval_ms=heartbeat_interval_ms,
            privileged_intents_allowed=privileged_intents_allowed,
        )
        gateway.resume_url = f"ws://127.0.0.1:{port}/gateway"
        Routes(state, lambda: f"ws://127.0.0.1:{port}/gateway").register(app)
        app.router.add_get("/gateway", gateway.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        fake = cls(state, gateway, spec, runner)
        return fake

    @classmethod
    @contextlib.asynccontextmanager
    async def serve(cls, **options: Any) -> AsyncIterator[FakeDiscord]:
        fake = await cls.start(**options)
        try:
            yield fake
        finally:
            await fake.stop()

    async def stop(self) -> None:
        await self.gateway.close()
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What the bot's DISCORD_API_BASE_URL should be."""
        return self.state.base_url

    @property
    def bot_user(self) -> User:
        return self.state.bot_user

    @property
    def application_id(self) -> int:
        return self.state.application_id

    @property
    def ready_count(self) -> int:
        """How many gateway sessions have become ready so far."""
        return self.gateway.ready_count

    @property
    def identity(self) -> Identity | None:
        """The bot's IDENTIFY (token, intents, properties), once it has connected."""
        return self.gateway.identity

    async def wait_until_ready(self, timeout: float = 30.0, *, after: int = 0) -> None:  # noqa: ASYNC109
        """Until a bot has identified and received READY plus every GUILD_CREATE.

        `after`: the `ready_count` before a (re)start, to wait for a new session.
        """
        try:
            await self.gateway.wait_ready(timeout, after=after)
        except TimeoutError:
            raise AssertionError(
                f"the bot did not connect to the fake gateway within {timeout} s"
            ) from None

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; the bot should come back and RESUME."""
        await self.gateway.request_reconnect()

    # --- people and places -------------------------------------------------------

    async def create_guild(
        self,
        name: str = "Test Server",
        *,
        locale: str = "en-US",
        everyone_permissions: int = int(DEFAULT_EVERYONE),
        bot_permissions: int = int(DEFAULT_BOT),
        shard: tuple[int, int] | None = None,
        system_channel: bool = True,
        announce: bool = True,
        premium_tier: int = 0,
    ) -> Guild:
        """A guild the bot has just been added to, announced with GUILD_CREATE when the bot
        is online. Its #general is its system channel unless `system_channel` is False.

        `shard=(shard_id, shard_count)` picks an id that Discord routes to that shard.
        With `announce=False` nothing is sent yet: shape the guild first (overwrites,
        channels), then `await announce_guild(guild)`.
        """
        guild = self.state.new_guild(
            name,
            locale=locale,
            everyone_permissions=everyone_permissions,
            bot_permissions=bot_permissions,
            guild_id=None if shard is None else self.state.ids.next_on_shard(*shard),
            system_channel=system_channel,
            premium_tier=premium_tier,
        )
        if announce:
            await self.announce_guild(guild)
        return guild

    async def announce_guild(self, guild: Guild) -> None:
        """The GUILD_CREATE Discord sends when the bot joins `guild` (if the bot is online)."""
        if self.gateway.has_session:
            await self.gateway.dispatch(
                "GUILD_CREATE",
                guild_create_payload(guild, self.state.bot_members[guild.id], joined=True),
            )

    async def create_text_channel(
        self, guild: Guild, name: str, *, overwrites: Sequence[Overwrite] = ()
    ) -> Channel:
        """A new text channel in `guild` (announced with CHANNEL_CREATE)."""
        channel = self.state.add_text_channel(guild, name)
        channel.overwrites.extend(overwrites)
        if self.gateway.has_session:
            await self.gateway.dispatch("CHANNEL_CREATE", channel_payload(channel))
        return channel

    async def set_channel_permissions(
        self, channel: Channel, target: Role | Member | User, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Set (replace) `target`'s overwrite in `channel`, as an admin does in its settings;
        the bot hears of it through CHANNEL_UPDATE."""
        kind = 0 if isinstance(target, Role) else 1
        channel.overwrites[:] = [o for o in channel.overwrites if o.id != target.id]
        channel.overwrites.append(Overwrite(id=target.id, type=kind, allow=allow, deny=deny))
        if self.gateway.has_session:
            await self.gateway.dispatch("CHANNEL_UPDATE", channel_payload(channel))

    def bot_role(self, guild: Guild) -> Role:
        """The role Discord made for the bot when it joined `guild`."""
        return next(role for role in guild.roles if role.managed)

    def add_guilds_quietly(
        self, count: int, *, channels: int = 1, roles: int = 0, prefix: str = "Guild"
    ) -> list[Guild]:
        """Many guilds at once, each with `channels` text channels and `roles` extra roles,
        without dispatching anything (for start-up benchmarks: add them before the bot
        connects and they arrive in READY and GUILD_CREATE). They are an established bot's
        servers: it joined them a month ago."""
        made = []
        joined = utcnow() - timedelta(days=30)
        for index in range(count):
            guild = self.state.new_guild(f"{prefix} {index}", bot_joined_at=joined)
            for number in range(1, channels):
                self.state.add_text_channel(guild, f"channel-{number}")
            for number in range(roles):
                guild.roles.append(
                    Role(
                        id=self.state.ids.next(),
                        guild_id=guild.id,
                        name=f"role-{number}",
                        permissions=0,
                        position=len(guild.roles),
                    )
                )
            made.append(guild)
        return made

    async def create_role(self, guild: Guild, name: str, permissions: int = 0) -> Role:
        role = Role(
            id=self.state.ids.next(),
            guild_id=guild.id,
            name=name,
            permissions=permissions,
            position=len(guild.roles),
        )
        guild.roles.append(role)
        if self.gateway.has_session:
            await self.gateway.dispatch(
                "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role_payload(role)}
            )
        return role

    def create_user(
        self,
        username: str,
        *,
        dms_open: bool = True,
        locale: str = "en-US",
        global_name: str | None = None,
    ) -> User:
        return self.state.new_user(
            username, dms_open=dms_open, locale=locale, global_name=global_name
        )

    def create_member(
        self,
        guild: Guild,
        username: str | None = None,
        *,
        user: User | None = None,
        manage_guild: bool = False,
        administrator: bool = False,
        roles: Sequence[Role] = (),
        dms_open: bool = True,
        locale: str = "en-US",
        nick: str | None = None,
    ) -> Member:
        """A member of `guild`; `manage_guild`/`administrator` give them a role with that power.

        Members arrive silently: a bot without the privileged members intent is not told.
        """
        if user is None:
            user = self.create_user(
                username or f"member{len(guild.members)}", dms_open=dms_open, locale=locale
            )
        role_ids = [role.id for role in roles]
        power = (Permission.MANAGE_GUILD if manage_guild else 0) | (
            Permission.ADMINISTRATOR if administrator else 0
        )
        if power:
            role = Role(
                id=self.state.ids.next(),
                guild_id=guild.id,
                name="Admin" if administrator else "Server Manager",
                permissions=int(power),
                position=len(guild.roles),
            )
            guild.roles.append(role)
            role_ids.append(role.id)
        member = Member(user=user, guild=guild, role_ids=role_ids, nick=nick)
        guild.members[user.id] = member
        return member

    def close_dms(self, who: Who) -> None:
        """From now on, DMs to this person fail with 50007."""
        _user(who).dms_open = False

    def open_dms(self, who: Who) -> None:
        _user(who).dms_open = True

    # --- commands ------------------------------------------------------------------

    def commands(self, guild: Guild | None = None) -> list[SyncedCommand]:
        """Slash commands a member of `guild` sees (guild commands, then global ones)."""
        names = self.state.commands.names(None if guild is None else guild.id)
        found = [self.state.commands.find(n, None if guild is None else guild.id) for n in names]
        return [c for c in found if c is not None]

    def command(self, name: str, guild: Guild | None = None) -> SyncedCommand | None:
        return self.state.commands.find(name, None if guild is None else guild.id)

    async def wait_for_command(
        self,
        name: str,
        guild: Guild | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> SyncedCommand:
        """The command once the bot has synced it (bots may sync after connecting)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.command(name, guild)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                where = "globally" if guild is None else f"in {guild.name}"
                visible = self.state.commands.names(None if guild is None else guild.id)
                raise AssertionError(f"/{name} was not synced {where}; synced: {visible}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.state.commands.changed.wait(), remaining)

    # --- what members do -------------------------------------------------------------

    async def invoke(
        self,
        command: str,
        *,
        guild: Guild | None = None,
        member: Member | None = None,
        user: User | None = None,
        options: Mapping[str, Any] | None = None,
        attachments: Sequence[Attachment] = (),
        subcommand: str | Sequence[str] | None = None,
        channel: Channel | None = None,
        locale: str | None = None,
        permission_override: bool = False,
        sync_timeout: float = 10.0,
    ) -> InteractionResult:
        """Run a slash command as `member` in `guild` (or as `user` in the bot's DMs).

        `command` may name a subcommand path ("avatar create") or use `subcommand=`.
        `options` maps option names to values of the declared type (`Member`/`User`/`Role`/
        `Channel`/`Attachment` for those types); `attachments` fill the attachment options
        not named in `options`, in declaration order.
        """
        return await self.send(
            await self.prepare_invoke(
                command,
                guild=guild,
                member=member,
                user=user,
                options=options,
                attachments=attachments,
                subcommand=subcommand,
                channel=channel,
                locale=locale,
                permission_override=permission_override,
                sync_timeout=sync_timeout,
            )
        )

    async def prepare_invoke(
        self,
        command: str,
        *,
        guild: Guild | None = None,
        member: Member | None = None,
        user: User | None = None,
        options: Mapping[str, Any] | None = None,
        attachments: Sequence[Attachment] = (),
        subcommand: str | Sequence[str] | None = None,
        channel: Channel | None = None,
        locale: str | None = None,
        permission_override: bool = False,
        sync_timeout: float = 10.0,
    ) -> InteractionRecord:
        """Build the interaction `invoke` would send, without sending it (see `send`).

        Benchmarks prepare a burst first so that sending it measures only the bot.
        """
        guild = guild or (member.guild if member is not None else None)
        head, path = split_name(command, subcommand)
        synced = await self.wait_for_command(head, guild, sync_timeout)
        if not permission_override:
            check_available(synced, member, in_dm=guild is None)
        values = dict(options or {})
        if attachments:
            values.update(_fill_attachments(synced, path, values, attachments))
        data = self._builder.command_data(synced, path, values)
        record = self._builder.record(
            InteractionType.APPLICATION_COMMAND,
            data,
            label=f"/{' '.join((head, *path))}",
            guild=guild,
            member=member,
            user=user,
            channel=channel,
            locale=locale,
        )
        return record

    async def autocomplete(
        self,
        command: str,
        focused: str,
        value: str,
        *,
        guild: Guild | None = None,
        member: Member | None = None,
        user: User | None = None,
        options: Mapping[str, Any] | None = None,
        subcommand: str | Sequence[str] | None = None,
    ) -> list[Choice]:
        """The choices the bot offers while the member types `value` into option `focused`."""
        guild = guild or (member.guild if member is not None else None)
        head, path = split_name(command, subcommand)
        synced = await self.wait_for_command(head, guild)
        values = {**(options or {}), focused: value}
        data = self._builder.command_data(synced, path, values, focused=focused)
        record = self._builder.record(
            InteractionType.AUTOCOMPLETE,
            data,
            label=f"autocomplete /{' '.join((head, *path))} {focused}={value!r}",
            guild=guild,
            member=member,
            user=user,
            channel=None,
        )
        return await (await self.send(record)).choices()

    async def press_button(
        self,
        message: Message,
        custom_id: str,
        *,
        member: Member | None = None,
        user: User | None = None,
    ) -> InteractionResult:
        """Click a button (by custom_id or label) on a message the bot sent."""
        button = message.button(custom_id)
        if button.disabled:
            raise ValueError(f"button {custom_id!r} is disabled; Discord's client cannot press it")
        if button.custom_id is None:
            raise ValueError(f"button {custom_id!r} is a link button; it opens {button.url}")
        data = {"custom_id": button.custom_id, "component_type": 2}
        return await self._component(message, data, f"button {button.custom_id}", member, user)

    async def select(
        self,
        message: Message,
        custom_id: str,
        values: Sequence[str],
        *,
        member: Member | None = None,
        user: User | None = None,
    ) -> InteractionResult:
        """Choose `values` in a string select menu on a message the bot sent."""
        component = components_have_custom_id(message.components, custom_id)
        if component is None or component.get("type") != 3:
            raise ValueError(f"no string select {custom_id!r} on the message")
        offered = {str(o["value"]) for o in component.get("options") or []}
        if not set(values) <= offered:
            raise ValueError(f"select {custom_id!r} offers {sorted(offered)}, not {list(values)}")
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return await self._component(message, data, f"select {custom_id}", member, user)

    async def _component(
        self, message: Message, data: Json, label: str, member: Member | None, user: User | None
    ) -> InteractionResult:
        stored = self.state.messages.get(message.id)
        if stored is None:
            raise ValueError("that message has been deleted")
        channel = self.state.channels[stored.channel_id]
        guild = self.state.guilds.get(channel.guild_id) if channel.guild_id else None
        record = self._builder.record(
            InteractionType.MESSAGE_COMPONENT,
            data,
            label=label,
            guild=guild,
            member=member,
            user=user,
            channel=channel,
            message=dict(stored.data),
            source_message_id=stored.id,
        )
        return await self.send(record)

    async def submit_modal(
        self,
        modal: Modal | InteractionResult,
        values: Mapping[str, str | Sequence[str]],
    ) -> InteractionResult:
        """Fill in and submit a modal the bot showed (as the member it was shown to)."""
        if isinstance(modal, InteractionResult):
            modal = await modal.modal()
        check_modal_values(modal, values)
        origin = modal.origin
        data: Json = {
            "custom_id": modal.custom_id,
            "components": submitted_components(modal, values),
        }
        source = (
            None
            if origin.source_message_id is None
            else self.state.messages.get(origin.source_message_id)
        )
        channel = self.state.channels[origin.channel_id]
        record = self._builder.record(
            InteractionType.MODAL_SUBMIT,
            data,
            label=f"modal {modal.custom_id}",
            guild=origin.guild,
            member=origin.member,
            user=origin.user if origin.guild is None else None,
            channel=channel,
            message=None if source is None else dict(source.data),
            source_message_id=None if source is None else source.id,
            trigger=origin,
        )
        return await self.send(record)

    async def send(self, record: InteractionRecord) -> InteractionResult:
        """Dispatch a prepared interaction (INTERACTION_CREATE) to the bot."""
        if not self.gateway.connected:
            raise AssertionError("the bot is not connected to the fake gateway")
        self.state.interactions.add(record)
        record.dispatched_at = time.monotonic()
        record.expires_at = record.dispatched_at + self.state.token_lifetime
        record.delivered_to = tuple(
            await self.gateway.dispatch("INTERACTION_CREATE", record.payload)
        )
        if not record.delivered_to:
            raise AssertionError(f"{record.label}: no gateway session runs the shard it is for")
        return InteractionResult(record, self.state.messages, self.state.ack_deadline)

    # --- what the bot did -------------------------------------------------------------

    def dms(self, who: Who) -> list[Message]:
        """Messages the bot has sent to this person's DMs, oldest first."""
        channel = self.state.dm_channels.get(_user(who).id)
        return [] if channel is None else self.channel_messages(channel)

    async def wait_for_dm(self, who: Who, *, count: int = 1, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        """The `count`-th DM to this person, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while len(found := self.dms(who)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no DM #{count} to {_user(who).username} within {timeout} s")
            await asyncio.sleep(0.02)
        return found[count - 1]

    def channel_messages(self, channel: Channel) -> list[Message]:
        return [Message.from_stored(m) for m in self.state.messages.in_channel(channel.id)]

    def message(self, message_id: int) -> Message | None:
        stored = self.state.messages.get(message_id)
        return None if stored is None else Message.from_stored(stored)

    def calls(self, method: str | None = None, template: str | None = None) -> list[RestCall]:
        """REST requests the bot made, optionally filtered by method and path template."""
        return [
            c
            for c in self.state.calls
            if (method is None or c.method == method.upper())
            and (template is None or template in (c.template, c.path))
        ]

    def inject_rate_limit(
        self,
        method: str,
        template: str,
        *,
        retry_after: float = 1.0,
        scope: str = "user",
        is_global: bool = False,
        times: int = 1,
    ) -> Injection:
        """Answer the next `times` requests to `method template` with a 429."""
        return self.state.ratelimits.inject(
            method, template, retry_after=retry_after, scope=scope, is_global=is_global, times=times
        )

    # --- honesty ------------------------------------------------------------------------

    @property
    def violations(self) -> list[Violation]:
        return list(self.state.violations)

    def take_violations(self) -> list[Violation]:
        """The violations so far, forgetting them (for tests that provoke one on purpose)."""
        taken, self.state.violations[:] = list(self.state.violations), []
        return taken

    @property
    def fake_problems(self) -> list[str]:
        """Where the fake itself strayed from Discord (replies off-spec, routes not emulated)."""
        return list(self.state.fake_problems)

    def assert_honest(self, *, clear: bool = True) -> None:
        """Fail with every request Discord would have refused and every gap in the fake.

        With `clear` (the default) the findings are forgotten first, so one bad test does
        not fail the tests after it that share this fake.
        """
        violations, problems = list(self.state.violations), list(self.state.fake_problems)
        if clear:
            self.state.violations.clear()
            self.state.fake_problems.clear()
        lines: list[str] = []
        if violations:
            lines.append(f"{len(violations)} request(s) Discord would refuse:")
            lines.extend(f"  {v}" for v in violations)
        if problems:
            lines.append("the fake Discord itself is off-spec:")
            lines.extend(f"  {p}" for p in problems)
        if lines:
            raise HonestyError("\n".join(lines))


class _Hooks:
    """What the gateway asks of the state."""

    def __init__(self, state: DiscordState) -> None:
        self._state = state

    def accept_token(self, token: str) -> bool:
        return self._state.accept_token(token)

    def session_started(self) -> None:
        self._state.session_starts.used += 1

    def ready_payload(
        self, session_id: str, resume_url: str, guild_ids: list[int], shard: Shard | None
    ) -> dict[str, Any]:
        state = self._state
        sharding = {} if shard is None else {"shard": shard.as_list()}
        return {
            "v": 10,
            "user": {**user_payload(state.bot_user), "mfa_enabled": False, "verified": True},
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            **sharding,
            "session_id": session_id,
            "session_type": "normal",
            "resume_gateway_url": resume_url,
            "application": {"id": str(state.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "auth": {},
            "user_settings": {},
            "_trace": ['["fake-discord",{"micros":0}]'],
        }

    def guild_ids(self) -> list[int]:
        return list(self._state.guilds)

    def guild_create(self, guild_id: int) -> dict[str, Any]:
        state = self._state
        return guild_create_payload(state.guilds[guild_id], state.bot_members[guild_id])


def _user(who: Who) -> User:
    return who.user if isinstance(who, Member) else who


def _fill_attachments(
    command: SyncedCommand,
    path: Sequence[str],
    values: Mapping[str, Any],
    attachments: Sequence[Attachment],
) -> dict[str, Attachment]:
    declared = command.options
    for name in path:
        declared = next((list(o.get("options") or []) for o in declared if o["name"] == name), [])
    slots = [o["name"] for o in declared if int(o["type"]) == 11 and o["name"] not in values]
    if len(attachments) > len(slots):
        raise ValueError(
            f"/{command.name} has {len(slots)} free attachment option(s) "
            f"for {len(attachments)} file(s)"
        )
    return dict(zip(slots, attachments, strict=False))
