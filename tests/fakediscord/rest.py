"""The REST routes the bot uses, answered the way Discord answers them.

Paths use the same templates as Discord's OpenAPI description. Each handler trusts that
the honesty middleware has already validated and parsed the request (`request[BODY]`,
`request[UPLOADS]`); what is left is Discord's behaviour: ids, stored state, and the
errors a bot must cope with (late or duplicate acknowledgements, expired tokens, closed
DMs, unknown things).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakediscord import replies as errors
from tests.fakediscord.entities import Channel, ChannelType, Permission
from tests.fakediscord.honesty import BODY, UPLOADS
from tests.fakediscord.interactions import (
    ALLOWED_CALLBACKS,
    Ack,
    CallbackType,
    Choice,
    InteractionRecord,
    InteractionType,
    Modal,
    Rejection,
)
from tests.fakediscord.messages import EPHEMERAL, LOADING, StoredMessage
from tests.fakediscord.payloads import (
    Json,
    channel_payload,
    current_user_payload,
    member_payload,
    user_payload,
)
from tests.fakediscord.problems import Problem
from tests.fakediscord.replies import DiscordError, json_reply
from tests.fakediscord.sharding import recommended_shards
from tests.fakediscord.state import DiscordState, Violation

API = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class Routes:
    """Route handlers bound to one fake's state."""

    def __init__(self, state: DiscordState, gateway_url: Callable[[], str]) -> None:
        self.state = state
        self._gateway_url = gateway_url

    def register(self, app: web.Application) -> None:
        add = app.router.add_route
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", "/users/@me", self.get_current_user),
            ("POST", "/users/@me/channels", self.create_dm),
            ("GET", "/users/{user_id}", self.get_user),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/{application_id}/commands", self.list_commands),
            ("PUT", "/applications/{application_id}/commands", self.overwrite_commands),
            ("POST", "/applications/{application_id}/commands", self.create_command),
            ("GET", "/applications/{application_id}/commands/{command_id}", self.get_command),
            ("PATCH", "/applications/{application_id}/commands/{command_id}", self.patch_command),
            ("DELETE", "/applications/{application_id}/commands/{command_id}", self.delete_command),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self.list_commands,
            ),
            (
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self.overwrite_commands,
            ),
            (
                "POST",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self.create_command,
            ),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
                self.get_command,
            ),
            (
                "PATCH",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
                self.patch_command,
            ),
            (
                "DELETE",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
                self.delete_command,
            ),
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self.callback),
            ("POST", "/webhooks/{webhook_id}/{webhook_token}", self.create_followup),
            (
                "GET",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                self.get_webhook_message,
            ),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                self.edit_webhook_message,
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                self.delete_webhook_message,
            ),
            (
                "GET",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self.get_webhook_message,
            ),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self.edit_webhook_message,
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self.delete_webhook_message,
            ),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
        ]
        for method, path, handler in table:
            add(method, API + path, _answer_errors(handler))
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self.download)

    # --- gateway, identity ---------------------------------------------------

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_reply({"url": self._gateway_url()})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_reply(
            {
                "url": self._gateway_url(),
                "shards": recommended_shards(len(self.state.guilds)),
                "session_start_limit": self.state.session_starts.payload(),
            }
        )

    async def get_current_user(self, request: web.Request) -> web.Response:
        return json_reply(current_user_payload(self.state.bot_user))

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.state.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise DiscordError(404, errors.UNKNOWN_USER)
        return json_reply(user_payload(user))

    async def get_application(self, request: web.Request) -> web.Response:
        state = self.state
        owner = user_payload(state.bot_user)
        return json_reply(
            {
                "id": str(state.application_id),
                "name": state.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot": user_payload(state.bot_user),
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "flags_new": "0",
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "owner": owner,
                "approximate_guild_count": len(state.guilds),
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "team": None,
                "eligible_oauth2_scopes": [],
                "rpc_origins": [],
                "tags": [],
                "integration_types_config": {"0": {}},
            }
        )

    # --- application commands ------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        if int(request.match_info["application_id"]) != self.state.application_id:
            raise DiscordError(403, errors.MISSING_ACCESS)
        guild_id = request.match_info.get("guild_id")
        if guild_id is None:
            return None
        if int(guild_id) not in self.state.guilds:
            raise DiscordError(403, errors.MISSING_ACCESS)
        return int(guild_id)

    async def list_commands(self, request: web.Request) -> web.Response:
        return json_reply(self.state.commands.in_scope(self._command_scope(request)))

    async def overwrite_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        return json_reply(self.state.commands.overwrite(scope, request[BODY] or []))

    async def create_command(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        if self.state.commands.would_exceed(scope, request[BODY]):
            # "Application Commands > Registering a Command": 100 global CHAT_INPUT
            # commands (15 USER, 15 MESSAGE), as many per guild; Discord answers 30032.
            raise DiscordError(400, errors.MAX_APPLICATION_COMMANDS)
        command, created = self.state.commands.upsert(scope, request[BODY])
        return json_reply(command, status=201 if created else 200)

    async def get_command(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        command = self.state.commands.get(scope, int(request.match_info["command_id"]))
        if command is None:
            raise DiscordError(404, errors.UNKNOWN_APPLICATION_COMMAND)
        return json_reply(command)

    async def patch_command(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        command = self.state.commands.patch(
            scope, int(request.match_info["command_id"]), request[BODY]
        )
        if command is None:
            raise DiscordError(404, errors.UNKNOWN_APPLICATION_COMMAND)
        return json_reply(command)

    async def delete_command(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        if not self.state.commands.delete(scope, int(request.match_info["command_id"])):
            raise DiscordError(404, errors.UNKNOWN_APPLICATION_COMMAND)
        return web.Response(status=204)

    # --- interaction callback ------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        state = self.state
        record = state.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.dispatched_at is None:
            raise DiscordError(404, errors.UNKNOWN_INTERACTION)
        if record.token != request.match_info["interaction_token"]:
            raise DiscordError(401, errors.INVALID_WEBHOOK_TOKEN)
        if record.ack is not None:
            return self._reject(
                record, 400, errors.ALREADY_ACKNOWLEDGED, "a second acknowledgement"
            )
        age = record.age()
        if age > state.ack_deadline:
            return self._reject(
                record,
                404,
                errors.UNKNOWN_INTERACTION,
                f"acknowledged {age:.2f} s after the interaction",
            )
        body: Json = request[BODY]
        callback_type = CallbackType(int(body["type"]))
        if callback_type not in ALLOWED_CALLBACKS[record.type]:
            problem = Problem(
                ("type",),
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"callback {callback_type.name} is not allowed for a {record.type.name} "
                "interaction",
            )
            state.violations.append(Violation("POST", request.path, None, (str(problem),), body))
            return errors.error_response(400, errors.INVALID_FORM_BODY, problems=[problem])
        data: Json = body.get("data") or {}
        uploads = request[UPLOADS]
        record.ack = Ack(type=callback_type, data=data or None, latency=age)
        message = self._apply_callback(record, callback_type, data, uploads)
        record.touch()
        if not _flag(request.query.get("with_response")):
            return web.Response(status=204)
        return json_reply(self._callback_response(record, callback_type, message))

    def _apply_callback(
        self, record: InteractionRecord, kind: CallbackType, data: Json, uploads: list[Any]
    ) -> StoredMessage | None:
        messages = self.state.messages
        if kind is CallbackType.CHANNEL_MESSAGE:
            stored = messages.create(
                channel_id=record.channel_id,
                author=self.state.bot_user,
                body=data,
                uploads=uploads,
                message_type=_reply_type(record),
                extra=self._interaction_extra(record),
            )
            record.original_id = stored.id
            return stored
        if kind is CallbackType.DEFERRED_CHANNEL_MESSAGE:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            stored = messages.create(
                channel_id=record.channel_id,
                author=self.state.bot_user,
                body={},
                extra_flags=flags,
                message_type=_reply_type(record),
                extra=self._interaction_extra(record),
            )
            record.original_id = stored.id
            return stored
        if kind in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            source = (
                None if record.source_message_id is None else messages.get(record.source_message_id)
            )
            if source is None:
                return None
            record.original_id = source.id
            if kind is CallbackType.UPDATE_MESSAGE:
                messages.edit(source, data, uploads)
                record.original_edits += 1
            return source
        if kind is CallbackType.AUTOCOMPLETE_RESULT:
            record.choices = tuple(Choice(c["name"], c["value"]) for c in data.get("choices") or [])
        elif kind is CallbackType.MODAL:
            record.modal = Modal(
                custom_id=str(data["custom_id"]),
                title=str(data["title"]),
                components=tuple(data["components"]),
                origin=record,
            )
        return None

    def _interaction_extra(self, record: InteractionRecord) -> Json:
        return {
            "webhook_id": str(self.state.application_id),
            "application_id": str(self.state.application_id),
            "interaction_metadata": _metadata(record),
        }

    def _callback_response(
        self, record: InteractionRecord, kind: CallbackType, message: StoredMessage | None
    ) -> Json:
        interaction: Json = {"id": str(record.id), "type": int(record.type)}
        if message is not None:
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = bool(message.data["flags"] & LOADING)
            interaction["response_message_ephemeral"] = bool(message.data["flags"] & EPHEMERAL)
        answer: Json = {"interaction": interaction}
        # Discord describes a resource only for replies that are messages already (4 and 7).
        if message is not None and kind in (
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.UPDATE_MESSAGE,
        ):
            answer["resource"] = {"type": int(kind), "message": message.data}
        return answer

    def _reject(
        self, record: InteractionRecord, status: int, code: int, reason: str
    ) -> web.Response:
        record.rejections.append(Rejection(status, code, reason))
        record.touch()
        return errors.error_response(status, code)

    # --- webhooks: followups and the original response ---------------------------

    def _webhook_record(self, request: web.Request) -> InteractionRecord:
        if int(request.match_info["webhook_id"]) != self.state.application_id:
            raise DiscordError(404, errors.UNKNOWN_WEBHOOK)
        record = self.state.interactions.by_token(request.match_info["webhook_token"])
        if record is None:
            raise DiscordError(401, errors.INVALID_WEBHOOK_TOKEN)
        if record.token_expired():
            record.rejections.append(
                Rejection(
                    401, errors.INVALID_WEBHOOK_TOKEN, "used the interaction token after it expired"
                )
            )
            record.touch()
            raise DiscordError(401, errors.INVALID_WEBHOOK_TOKEN)
        return record

    def _webhook_message(self, request: web.Request, record: InteractionRecord) -> StoredMessage:
        key = request.match_info.get("message_id", "@original")
        message_id = record.original_id if key == "@original" else int(key)
        allowed = {record.original_id, *record.followup_ids}
        stored = (
            self.state.messages.get(message_id) if message_id in allowed and message_id else None
        )
        if stored is None:
            raise DiscordError(404, errors.UNKNOWN_MESSAGE)
        return stored

    async def create_followup(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        if record.ack is None or record.ack.type in (
            CallbackType.AUTOCOMPLETE_RESULT,
            CallbackType.MODAL,
        ):
            raise DiscordError(404, errors.UNKNOWN_WEBHOOK)
        body: Json = request[BODY]
        uploads = request[UPLOADS]
        messages = self.state.messages
        original = None if record.original_id is None else messages.get(record.original_id)
        if (
            record.ack.type is CallbackType.DEFERRED_CHANNEL_MESSAGE
            and original is not None
            and original.data["flags"] & LOADING
        ):
            # Discord: the first followup after a deferral becomes the deferred reply itself.
            stored = messages.edit(original, body, uploads)
            messages.finish_loading(stored)
            stored.data["edited_timestamp"] = None
            record.original_edits += 1
        else:
            stored = messages.create(
                channel_id=record.channel_id,
                author=self.state.bot_user,
                body=body,
                uploads=uploads,
                extra=self._interaction_extra(record),
            )
            record.followup_ids.append(stored.id)
        record.touch()
        if not _flag(request.query.get("wait")):
            return web.Response(status=204)
        return json_reply(stored.data)

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        return json_reply(self._webhook_message(request, record).data)

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        stored = self._webhook_message(request, record)
        self.state.messages.edit(stored, request[BODY], request[UPLOADS])
        if stored.id == record.original_id:
            self.state.messages.finish_loading(stored)
            record.original_edits += 1
        record.touch()
        return json_reply(stored.data)

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        stored = self._webhook_message(request, record)
        stored.deleted = True
        if stored.id == record.original_id:
            record.original_deleted = True
        record.touch()
        return web.Response(status=204)

    # --- channels, DMs, messages ---------------------------------------------

    async def create_dm(self, request: web.Request) -> web.Response:
        recipient = request[BODY].get("recipient_id")
        user = self.state.users.get(int(recipient)) if str(recipient).isdigit() else None
        if user is None or user.bot:
            raise DiscordError(400, errors.INVALID_RECIPIENT)
        return json_reply(channel_payload(self.state.dm_channel(user)))

    def _channel(self, request: web.Request) -> Channel:
        channel = self.state.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise DiscordError(404, errors.UNKNOWN_CHANNEL)
        return channel

    async def get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        return json_reply(channel_payload(channel))

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel.type is ChannelType.DM:
            assert channel.recipient is not None
            if not channel.recipient.dms_open:
                raise DiscordError(403, errors.CANNOT_MESSAGE_USER)
        else:
            allowed = self.state.bot_permissions_in(channel)
            if not allowed & Permission.VIEW_CHANNEL:
                raise DiscordError(403, errors.MISSING_ACCESS)
            needed = Permission.SEND_MESSAGES | (Permission.ATTACH_FILES if request[UPLOADS] else 0)
            if allowed & needed != needed:
                raise DiscordError(403, errors.MISSING_PERMISSIONS)
            if request[BODY].get("embeds") and not allowed & Permission.EMBED_LINKS:
                # Discord refuses a message of embeds alone, and drops the embeds of any other.
                if not (request[BODY].get("content") or request[UPLOADS]):
                    raise DiscordError(403, errors.MISSING_PERMISSIONS)
                request[BODY]["embeds"] = []
        body: Json = request[BODY]
        # Create Message: "enforce_nonce: if true and nonce is present, it will be checked for
        # uniqueness in the past few minutes. If another message was created by the same author
        # with the same nonce, that message will be returned and no new message will be created."
        key = (channel.id, self.state.bot_user.id, str(body.get("nonce")))
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            seen = self.state.nonces.get(key)
            earlier = None if seen is None else self.state.messages.get(seen[0])
            if seen and earlier and time.monotonic() - seen[1] < self.state.nonce_window:
                return json_reply(earlier.data)
        stored = self.state.messages.create(
            channel_id=channel.id, author=self.state.bot_user, body=body, uploads=request[UPLOADS]
        )
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            self.state.nonces[key] = (stored.id, time.monotonic())
        return json_reply(stored.data)

    def _channel_message(self, request: web.Request) -> StoredMessage:
        channel = self._channel(request)
        stored = self.state.messages.get(int(request.match_info["message_id"]))
        if stored is None or stored.channel_id != channel.id:
            raise DiscordError(404, errors.UNKNOWN_MESSAGE)
        return stored

    async def get_message(self, request: web.Request) -> web.Response:
        return json_reply(self._channel_message(request).data)

    async def edit_message(self, request: web.Request) -> web.Response:
        stored = self._channel_message(request)
        self.state.messages.edit(stored, request[BODY], request[UPLOADS])
        return json_reply(stored.data)

    async def delete_message(self, request: web.Request) -> web.Response:
        self._channel_message(request).deleted = True
        return web.Response(status=204)

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.state.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise DiscordError(403, errors.MISSING_ACCESS)
        member = guild.members.get(int(request.match_info["user_id"]))
        if member is None:
            raise DiscordError(404, errors.UNKNOWN_MEMBER)
        return json_reply(member_payload(member))

    # --- files -----------------------------------------------------------------

    async def download(self, request: web.Request) -> web.Response:
        """CDN stand-in: the bytes of a member's attachment or of a file the bot sent."""
        attachment_id = int(request.match_info["attachment_id"])
        blob = self.state.blobs.get(attachment_id)
        if blob is None:
            for stored in self.state.messages:
                if attachment_id in stored.files:
                    blob = (stored.files[attachment_id], None)
                    break
        if blob is None:
            return web.Response(status=404, text="Not Found")
        data, content_type = blob
        # As a header, not `content_type=`: Discord reports e.g. "text/plain; charset=utf-8".
        return web.Response(
            body=data, headers={"Content-Type": content_type or "application/octet-stream"}
        )


def _metadata(record: InteractionRecord) -> Json:
    """`interaction_metadata` of a message sent in answer to `record`."""
    metadata: Json = {
        "id": str(record.id),
        "type": int(record.type),
        "user": user_payload(record.user),
        "authorizing_integration_owners": record.payload.get("authorizing_integration_owners", {}),
    }
    if record.type is InteractionType.MESSAGE_COMPONENT and record.source_message_id is not None:
        metadata["interacted_message_id"] = str(record.source_message_id)
    if record.type is InteractionType.MODAL_SUBMIT and record.trigger is not None:
        metadata["triggering_interaction_metadata"] = _metadata(record.trigger)
    return metadata


def _reply_type(record: InteractionRecord) -> int:
    """Message type of an interaction's reply: CHAT_INPUT_COMMAND (20) for slash commands."""
    return 20 if record.type is InteractionType.APPLICATION_COMMAND else 0


def _answer_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DiscordError as error:
            return error.response()

    wrapped.__name__ = getattr(handler, "__name__", "handler")
    return wrapped
