"""Non-success answers, raised anywhere below a route and rendered once per dialect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

from aiohttp import web

from bot.settings import Dialect

DOC_URL = "https://docs.dev.runwayml.com/api"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with a request, in the shape of production's 400 `issues` entries."""

    code: str
    path: tuple[str | int, ...]
    message: str


class SandboxError(Exception):
    """An answer other than success: an HTTP status, a message and any validation issues.

    The Python control surface raises it too (404 for an unknown session, 409 for a session
    in the wrong state), so driving the sandbox from a test or over HTTP fails the same way.
    """

    def __init__(self, status: int, message: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.issues = tuple(issues)


def error_body(
    dialect: Dialect, status: int, message: str, issues: Sequence[Issue] = ()
) -> dict[str, object]:
    """The error document each dialect answers with.

    Production: `{error}`, plus `issues` and `docUrl` for validation failures. Seed:
    `{error, code}` with no room for issues, so they are folded into the message.
    """
    if dialect is Dialect.SEED:
        details = "; ".join(f"{_dotted(issue.path)}: {issue.message}" for issue in issues)
        return {"error": f"{message} {details}".strip(), "code": HTTPStatus(status).name}
    body: dict[str, object] = {"error": message}
    if issues:
        body["issues"] = [
            {"code": issue.code, "path": list(issue.path), "message": issue.message}
            for issue in issues
        ]
        body["docUrl"] = DOC_URL
    return body


def error_response(dialect: Dialect, error: SandboxError) -> web.Response:
    return web.json_response(
        error_body(dialect, error.status, error.message, error.issues), status=error.status
    )


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in path) or "body"
