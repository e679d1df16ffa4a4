"""Discord's own OpenAPI description as a judge of every REST call the bot makes.

A fake Discord that accepts anything proves nothing: the bot could send a body the real
Discord rejects and every test would still pass. So each request is matched against
Discord's published description (method and templated path, path parameters, JSON body
or the `payload_json` part of a multipart body) with JSON Schema Draft 2020-12. The
1.2 MB document is parsed once per process and each validator is compiled on first use.
The same description also checks the fake's own replies, so the fake stays honest too.

Requests are held to the description more strictly than it is written where it is looser
than Discord (see `_as_discord_applies_it`): a field the description does not list is
refused, and so is a malformed link. Discord's rules that no schema can express are in
`rules.py`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.fakediscord.problems import Problem

SPEC_URI = "urn:discord-openapi"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
JSON = "application/json"
MULTIPART = "multipart/form-data"
MAX_MESSAGE = 300


def _pointer_token(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Operation:
    """One method on one templated path of Discord's API."""

    method: str
    template: str
    operation_id: str
    pointer: str
    body_types: frozenset[str]
    body_required: bool
    path_parameters: Mapping[str, str]  # name -> pointer to its schema
    responses: frozenset[str]


@dataclass(frozen=True)
class RouteMatch:
    """A request path resolved to an operation, with the path parameters it carried."""

    operation: Operation
    params: Mapping[str, str]


@dataclass(frozen=True)
class RouteMiss:
    """Why a method and path are not part of Discord's API."""

    reason: str


@dataclass
class _Route:
    template: str
    regex: re.Pattern[str]
    literal_segments: int
    operations: dict[str, Operation] = field(default_factory=dict)


def _as_discord_applies_it(document: Mapping[str, Any]) -> dict[str, Any]:
    """The description as Discord applies it to requests: laxer than written in one place,
    stricter in another.

    Laxer: the description types every snowflake as a decimal string, which is what
    Discord sends. In request bodies Discord also accepts integers, and discord.py relies
    on it (e.g. `attachments[].id` is the integer index of the uploaded file part).

    Stricter: only one schema of the description sets `additionalProperties: false`, so
    as written it lets any unknown field through. Discord's docs list the fields of each
    body (e.g. "Message Resource > Create Message > JSON/Form Params"); a field they do not
    list is refused or at best ignored by Discord, so a misspelt one (`allowed_mention`)
    silently loses what it was for. Every object schema is therefore closed
    (`unevaluatedProperties: false`) after adding the fields Discord takes that the
    description lacks (`_ACCEPTED_FIELDS`): the fake refuses any other field.

    Only requests get either change; the fake's own replies are held to the description
    as written.
    """
    schemas = {
        name: _closed(_with_accepted_fields(name, schema), combined=False)
        for name, schema in document["components"]["schemas"].items()
    }
    strict = schemas["SnowflakeType"]
    schemas["SnowflakeType"] = {"anyOf": [strict, {"type": "integer", "minimum": 0}]}
    paths = {
        template: {
            method: (
                {**op, "requestBody": _closed(op["requestBody"], combined=False)}
                if isinstance(op, dict) and "requestBody" in op
                else op
            )
            for method, op in item.items()
        }
        for template, item in document["paths"].items()
    }
    return {
        **document,
        "paths": paths,
        "components": {**document["components"], "schemas": schemas},
    }


# Fields Discord takes that its description lacks, by schema: documented ones, and one
# Discord demonstrably ignores (every discord.py bot sends it, so refusing it would make
# the fake stricter than Discord).
_ACCEPTED_FIELDS: dict[str, dict[str, Any]] = {
    # "Application Commands > Application Command Object": nsfw? boolean, on create,
    # bulk overwrite and edit alike.
    **{
        name: {"nsfw": {"type": ["boolean", "null"]}}
        for name in (
            "ApplicationCommandCreateRequest",
            "ApplicationCommandUpdateRequest",
            "ApplicationCommandPatchRequestPartial",
        )
    },
    # "Message Resource > Embed Object": flags? integer (discord.py always sends it).
    "RichEmbed": {"flags": {"type": ["integer", "null"]}},
    # "Interactions > Receiving and Responding > Interaction Callback Data Structure >
    # Messages": tts? is part of an UPDATE_MESSAGE reply as of any other; and discord.py
    # sends `tts: false` on every message edit, which Discord ignores.
    **{
        name: {"tts": {"type": ["boolean", "null"]}}
        for name in (
            "IncomingWebhookUpdateForInteractionCallbackRequestPartial",
            "IncomingWebhookUpdateRequestPartial",
            "MessageEditRequestPartial",
        )
    },
}


def _with_accepted_fields(name: str, schema: Any) -> Any:
    extra = _ACCEPTED_FIELDS.get(name)
    if not extra or not isinstance(schema, dict):
        return schema
    return {**schema, "properties": {**schema["properties"], **extra}}


_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = ("items", "not", "additionalProperties", "unevaluatedProperties", "schema")
_SCHEMA_MAPS = ("properties", "content", "$defs")


def _closed(schema: Any, *, combined: bool) -> Any:
    """`schema` with every object schema in it refusing properties it does not list.

    An inline member of an `allOf` stays open: it describes only part of the object, whose
    other properties its siblings describe (Discord's multipart bodies are built that way).
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_closed(item, combined=key == "allOf") for item in value]
        elif key in _SCHEMA_VALUES:
            out[key] = _closed(value, combined=False)
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _closed(item, combined=False) for name, item in value.items()}
        else:
            out[key] = value
    if (
        "properties" in out
        and not combined
        and "additionalProperties" not in out
        and "unevaluatedProperties" not in out
    ):
        out["unevaluatedProperties"] = False
    return out


_URI_CHECKER = FormatChecker(formats=())
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


@_URI_CHECKER.checks("uri", raises=ValueError)
def _well_formed_uri(value: object) -> bool:
    """Discord refuses a malformed link ("Not a well formed URL."); the description marks
    link fields `format: uri`, which a validator only checks when asked to. A link needs a
    scheme and no spaces or control characters, and an http(s) link a host ("Message
    Resource > Embed Object": links support http(s), pictures also `attachment://`)."""
    if not isinstance(value, str):
        return True
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in value):
        return False
    parts = urlsplit(value)
    if not _SCHEME.fullmatch(parts.scheme):
        return False
    if parts.scheme.lower() in ("http", "https"):
        return bool(parts.hostname)
    return bool(parts.netloc or parts.path)


class DiscordSpec:
    """Route table and compiled validators built from Discord's OpenAPI document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(document)
        )
        self._request_registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(_as_discord_applies_it(document))
        )
        self._validators: dict[tuple[str, bool], Draft202012Validator] = {}
        self._routes = self._build_routes(document)

    @classmethod
    def load(cls, path: Path) -> DiscordSpec:
        """The spec at `path`, parsed and indexed once per process."""
        return _load_cached(str(path.resolve()))

    @staticmethod
    def _build_routes(document: Mapping[str, Any]) -> list[_Route]:
        routes: list[_Route] = []
        for template, item in document["paths"].items():
            segments = template.strip("/").split("/")
            pattern = "/".join(
                "([^/]+)" if seg.startswith("{") and seg.endswith("}") else re.escape(seg)
                for seg in segments
            )
            route = _Route(
                template=template,
                regex=re.compile(f"^/{pattern}$"),
                literal_segments=sum(not seg.startswith("{") for seg in segments),
            )
            shared_params = item.get("parameters", [])
            for method in HTTP_METHODS:
                op = item.get(method)
                if op is None:
                    continue
                pointer = f"#/paths/{_pointer_token(template)}/{method}"
                body = op.get("requestBody") or {}
                params: dict[str, str] = {}
                for index, param in enumerate(shared_params):
                    if param.get("in") == "path":
                        params[param["name"]] = (
                            f"#/paths/{_pointer_token(template)}/parameters/{index}/schema"
                        )
                for index, param in enumerate(op.get("parameters", [])):
                    if param.get("in") == "path":
                        params[param["name"]] = f"{pointer}/parameters/{index}/schema"
                route.operations[method.upper()] = Operation(
                    method=method.upper(),
                    template=template,
                    operation_id=op.get("operationId", ""),
                    pointer=pointer,
                    body_types=frozenset(body.get("content", {})),
                    body_required=bool(body.get("required")),
                    path_parameters=params,
                    responses=frozenset(op.get("responses", {})),
                )
            routes.append(route)
        # A literal segment beats a parameter: /users/@me before /users/{user_id}.
        routes.sort(key=lambda r: -r.literal_segments)
        return routes

    def find(self, method: str, path: str) -> RouteMatch | RouteMiss:
        """Resolve `path` (relative to /api/v10, without query) for `method`."""
        allowed: list[str] = []
        for route in self._routes:
            found = route.regex.match(path)
            if found is None:
                continue
            operation = route.operations.get(method.upper())
            if operation is None:
                allowed.extend(route.operations)
                continue
            names = re.findall(r"{([^}]+)}", route.template)
            params = {
                name: unquote(value) for name, value in zip(names, found.groups(), strict=True)
            }
            return RouteMatch(operation=operation, params=params)
        if allowed:
            return RouteMiss(
                f"{method} is not a method of {path} in Discord's API "
                f"(it allows {', '.join(sorted(set(allowed)))})"
            )
        return RouteMiss(f"{method} {path} is not a route of Discord's API")

    def _validator(self, pointer: str, *, request: bool = True) -> Draft202012Validator:
        validator = self._validators.get((pointer, request))
        if validator is None:
            registry = self._request_registry if request else self._registry
            validator = Draft202012Validator(
                {"$ref": f"{SPEC_URI}{pointer}"},
                registry=registry,
                format_checker=_URI_CHECKER if request else None,
            )
            self._validators[(pointer, request)] = validator
        return validator

    def parameter_problems(self, match: RouteMatch) -> list[str]:
        """Path parameters that do not fit their schema (e.g. a snowflake that is not one)."""
        problems: list[str] = []
        for name, pointer in match.operation.path_parameters.items():
            value = match.params.get(name)
            if value is None:
                continue
            for error in self._validator(pointer, request=False).iter_errors(value):
                problems.append(f"path parameter {name}={value!r}: {_short(error.message)}")
        return problems

    def body_problems(
        self, match: RouteMatch, content_type: str | None, body: Any
    ) -> list[Problem]:
        """Why a request body would be refused, or [] when it fits the description.

        `body` is the parsed JSON (for multipart: the parsed `payload_json` part), or
        `NO_BODY` when the request had none.
        """
        op = match.operation
        if body is NO_BODY:
            if op.body_required:
                return [_request_problem("the request has no body, but Discord requires one")]
            return []
        if not op.body_types:
            return [
                _request_problem(
                    f"{op.method} {op.template} takes no request body, but one was sent"
                )
            ]
        kind = MULTIPART if content_type == MULTIPART else JSON
        if kind not in op.body_types:
            return [_request_problem(f"{op.method} {op.template} does not accept {kind} bodies")]
        pointer = f"{op.pointer}/requestBody/content/{_pointer_token(kind)}/schema"
        return describe_errors(self._validator(pointer).iter_errors(body))

    def response_problems(self, match: RouteMatch, status: int, body: Any) -> list[str]:
        """Why a JSON reply does not look like Discord's, or [] (used on the fake itself)."""
        op = match.operation
        key = str(status)
        if key not in op.responses:
            family = f"{key[0]}XX"
            if family not in op.responses:
                return [f"status {status} is not a documented answer of {op.method} {op.template}"]
            key = family
        if body is NO_BODY:
            return []
        pointer = f"{op.pointer}/responses/{key}"
        resolved = self._registry.resolver().lookup(f"{SPEC_URI}{pointer}").contents
        if "$ref" in resolved:
            pointer = resolved["$ref"]
            resolved = self._registry.resolver().lookup(f"{SPEC_URI}{pointer}").contents
        content = resolved.get("content", {})
        if JSON not in content:
            return []
        schema = f"{pointer}/content/{_pointer_token(JSON)}/schema"
        errors = self._validator(schema, request=False).iter_errors(body)
        return [str(problem) for problem in describe_errors(errors)]


class _NoBody:
    """Marker for a request without a body (None is a valid JSON body)."""

    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Any = _NoBody()


@functools.cache
def _load_cached(path: str) -> DiscordSpec:
    with open(path, encoding="utf-8") as handle:
        return DiscordSpec(json.load(handle))


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def describe_errors(errors: Iterable[ValidationError]) -> list[Problem]:
    """Readable reasons, one per error, each at the JSON path it is about.

    Discord's description models most bodies as unions (`anyOf`/`oneOf` of request
    shapes told apart by a `type` field), whose raw error says only "not valid under any
    of the given schemas". This follows the branch the body was evidently meant to be
    (the one whose discriminator matched) down to the field that is actually wrong.
    """
    problems: list[Problem] = []
    for error in errors:
        problems.extend(_explain(error))
    return problems


def _explain(error: ValidationError) -> list[Problem]:
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        depth = len(error.absolute_path)
        plausible = [
            errs
            for errs in branches.values()
            if not any(_is_discriminator_miss(sub, depth) for sub in errs)
        ]
        if plausible:
            best = min(plausible, key=len)
            return [problem for sub in best for problem in _explain(sub)]
        misses = sorted({_message(errs[0]) for errs in branches.values()})
        reason = f"fits none of the allowed shapes ({'; '.join(misses)})"
        return [Problem(tuple(error.absolute_path), "BASE_TYPE_INVALID", reason)]
    path = tuple(error.absolute_path)
    if error.validator == "unevaluatedProperties" and isinstance(error.instance, dict):
        unknown = sorted(set(error.instance) - set(error.schema.get("properties") or {}))
        return [
            Problem((*path, name), "UNKNOWN_FIELD", f"{name!r} is not a field Discord documents")
            for name in unknown
        ]
    if error.validator == "required":
        found = re.match(r"'(.+)' is a required property", error.message)
        if found:
            return [Problem((*path, found[1]), "BASE_TYPE_REQUIRED", "This field is required")]
    return [Problem(path, _CODES.get(str(error.validator), "BASE_TYPE_INVALID"), _message(error))]


_CODES = {
    "maxLength": "BASE_TYPE_MAX_LENGTH",
    "maxItems": "BASE_TYPE_MAX_LENGTH",
    "minLength": "BASE_TYPE_MIN_LENGTH",
    "minItems": "BASE_TYPE_MIN_LENGTH",
    "enum": "BASE_TYPE_CHOICES",
    "const": "BASE_TYPE_CHOICES",
    "format": "URL_TYPE_INVALID_URL",
}


def _request_problem(reason: str) -> Problem:
    return Problem((), "BASE_TYPE_INVALID", reason)


def _message(error: ValidationError) -> str:
    """jsonschema's message, reworded so a long value cannot hide what is wrong with it."""
    limit, instance = error.validator_value, error.instance
    sized = isinstance(instance, str | list | dict)
    if error.validator in ("maxLength", "maxItems", "maxProperties") and sized:
        return f"{_preview(instance)} has length {len(instance)}; at most {limit} allowed"
    if error.validator in ("minLength", "minItems", "minProperties") and sized:
        return f"{_preview(instance)} has length {len(instance)}; at least {limit} required"
    if error.validator == "format":
        return f"{_preview(instance)} is not a well formed URL"
    if error.validator in ("type", "enum", "pattern", "const"):
        verb = {"type": "is not of type", "enum": "is not one of", "pattern": "does not match"}
        return f"{_preview(instance)} {verb.get(str(error.validator), 'is not')} {limit!r}"
    return _short(error.message)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_discriminator_miss(error: ValidationError, depth: int) -> bool:
    """Whether a union branch was rejected for being another kind of thing altogether."""
    relative = list(error.absolute_path)[depth:]
    if not relative and error.validator in ("type", "enum", "const"):
        return True
    return relative == ["type"] and error.validator in ("enum", "const", "type")
