"""JSON replies exactly as Discord sends them, and its errors by the codes bots handle.

discord.py parses a body as JSON only when `Content-Type` is exactly `application/json`
(no charset), so every reply goes through `json_reply`. Errors become `NotFound`/
`Forbidden`/`HTTPException` with `.code` in the bot, which branches on the codes (50007
means "DMs closed, show the link instead"), so they carry Discord's codes and messages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from tests.fakediscord.problems import Problem, errors_object

UNKNOWN_CHANNEL = 10003
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_APPLICATION_COMMAND = 10063
UNKNOWN_INTERACTION = 10062
MISSING_ACCESS = 50001
CANNOT_MESSAGE_USER = 50007
MISSING_PERMISSIONS = 50013
INVALID_WEBHOOK_TOKEN = 50027
INVALID_RECIPIENT = 50033
INVALID_FORM_BODY = 50035
ALREADY_ACKNOWLEDGED = 40060
REQUEST_TOO_LARGE = 40005
INVALID_JSON = 50109
EMPTY_MESSAGE = 50006
MAX_APPLICATION_COMMANDS = 30032

MESSAGES = {
    UNKNOWN_CHANNEL: "Unknown Channel",
    UNKNOWN_MEMBER: "Unknown Member",
    UNKNOWN_MESSAGE: "Unknown Message",
    UNKNOWN_USER: "Unknown User",
    UNKNOWN_WEBHOOK: "Unknown Webhook",
    UNKNOWN_APPLICATION_COMMAND: "Unknown application command",
    UNKNOWN_INTERACTION: "Unknown interaction",
    MISSING_ACCESS: "Missing Access",
    CANNOT_MESSAGE_USER: "Cannot send messages to this user",
    MISSING_PERMISSIONS: "Missing Permissions",
    INVALID_WEBHOOK_TOKEN: "Invalid Webhook Token",
    INVALID_RECIPIENT: "Invalid Recipient(s)",
    INVALID_FORM_BODY: "Invalid Form Body",
    ALREADY_ACKNOWLEDGED: "Interaction has already been acknowledged.",
    REQUEST_TOO_LARGE: "Request entity too large",
    INVALID_JSON: "The request body contains invalid JSON.",
    EMPTY_MESSAGE: "Cannot send an empty message",
    MAX_APPLICATION_COMMANDS: "Maximum number of application commands reached (100)",
}


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


class DiscordError(Exception):
    """Raised by a handler to answer with Discord's error JSON."""

    def __init__(self, status: int, code: int, message: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, "Error")
        super().__init__(f"{status} {code} {self.message}")

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message)


def error_response(
    status: int, code: int, message: str | None = None, problems: Sequence[Problem] = ()
) -> web.Response:
    """Discord's error JSON; with `problems`, the nested `errors` of a 50035."""
    body: dict[str, Any] = {"message": message or MESSAGES.get(code, "Error"), "code": code}
    if problems:
        body["errors"] = errors_object(problems)
    return json_reply(body, status)


def not_found() -> web.Response:
    return json_reply({"message": "404: Not Found", "code": 0}, 404)


def unauthorized() -> web.Response:
    return json_reply({"message": "401: Unauthorized", "code": 0}, 401)
