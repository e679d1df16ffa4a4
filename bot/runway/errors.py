"""One small hierarchy for everything that can go wrong talking to Runway.

Every error carries a message that is safe to show a Discord member: it names what
happened and what to do, never the API key, never a raw response body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.clip import clip

ISSUES_SHOWN: Final = 5  # of a 400's field issues; the rest are counted ("and 8 more")
_PATH_SHOWN: Final = 80


@dataclass(frozen=True, slots=True)
class Issue:
    """One field-level complaint from a 400 answer (production `issues[]`)."""

    path: str
    message: str
    code: str | None = None


class RunwayError(Exception):
    """Base class; `user_message` is what a member may see."""

    default_message = "Runway could not handle the request."

    def __init__(
        self,
        user_message: str | None = None,
        *,
        status: int | None = None,
        uncertain: bool = False,
    ) -> None:
        self.user_message = user_message or self.default_message
        self.status = status
        self.uncertain = uncertain
        """Whether Runway may have carried the request out anyway (a lost or unreadable
        answer): for a create, only a listing of Runway's objects can tell."""
        super().__init__(self.user_message)


class BadRequestError(RunwayError):
    default_message = "Runway refused the request as invalid."

    def __init__(
        self,
        user_message: str | None = None,
        *,
        status: int | None = 400,
        issues: tuple[Issue, ...] = (),
    ) -> None:
        super().__init__(user_message, status=status)
        self.issues = issues

    def describe(self) -> str:
        """The message followed by the first few field issues, for an ephemeral reply.

        Runway may list many issues, each up to a few hundred characters; a reply must
        stay readable (and within Discord's limits), so the rest are only counted.
        """
        lines = [self.user_message]
        lines.extend(
            f"- {clip(issue.path, _PATH_SHOWN) or 'request'}: {issue.message}"
            for issue in self.issues[:ISSUES_SHOWN]
        )
        if len(self.issues) > ISSUES_SHOWN:
            lines.append(f"… and {len(self.issues) - ISSUES_SHOWN} more")
        return "\n".join(lines)


class UnauthorizedError(RunwayError):
    default_message = (
        "Runway did not accept the bot's API key. An admin should check RUNWAYML_API_SECRET."
    )


class NotFoundError(RunwayError):
    default_message = "Runway has no such item; it may have been deleted."


class ConflictError(RunwayError):
    default_message = "Runway cannot do that right now because of the item's current state."


class RateLimitedError(RunwayError):
    default_message = "Runway's limit for this organisation is reached; try again shortly."

    def __init__(
        self,
        user_message: str | None = None,
        *,
        status: int | None = 429,
        retry_after: float | None = None,
        concurrency: bool = False,
    ) -> None:
        super().__init__(user_message, status=status)
        self.retry_after = retry_after
        self.concurrency = concurrency
        """Whether the limit is on sessions live at once (one ending frees a place), not a
        daily one."""


class UnavailableError(RunwayError):
    default_message = "Runway is unavailable at the moment; try again in a few minutes."


class RunwayTimeoutError(RunwayError):
    default_message = "Runway took too long to answer; try again in a moment."


class ProtocolError(RunwayError):
    default_message = "Runway sent an answer the bot does not understand."


class NotSupportedError(RunwayError):
    default_message = "This is not supported by the Runway API this bot is configured for."
