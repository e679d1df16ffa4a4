"""Errors that services raise when a member asked for something that cannot be done.

They carry a message written for the member; the command tree shows it ephemerally.
Nothing here knows about Discord.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """Base class for every refusal a member should read as it is."""

    def __init__(self, user_message: str) -> None:
        self.user_message = user_message
        super().__init__(user_message)


class NotFound(UserFacingError):
    """The thing asked for does not exist in this server."""


class NotAllowed(UserFacingError):
    """The member may not do this here."""


class InvalidInput(UserFacingError):
    """The input was malformed or out of bounds; the message says how to fix it."""


class LimitReached(UserFacingError):
    """A quota or concurrency limit stops this request; `limit` names it (e.g. "member_live",
    so a command can offer what frees it)."""

    def __init__(self, user_message: str, *, limit: str | None = None) -> None:
        super().__init__(user_message)
        self.limit = limit
