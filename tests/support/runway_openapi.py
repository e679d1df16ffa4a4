"""Validate Runway requests and responses against the dialect's OpenAPI description.

Production: `runway-openapi.json` (paths begin with `/v1`). Seed:
`runway-characters-seed-openapi.yml`, whose server base is `/v1`, so `/v1/avatars` is its
`/avatars`. Both validators return True when they checked something, False when the
operation is not in the description at all (production's `/consume`, documented only in
the reference README, or anything under `/_sandbox/`), and raise AssertionError naming
the method, the path and the schema error otherwise. They skip the calling test when the
reference folder is absent.

Error statuses a description does not list are still checked: production errors against
`{error, issues?, docUrl?}` (the shape the reference README gives), seed errors against the
seed's own `ErrorResponse`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support.reference import reference_file

PRODUCTION_FILE = "runway-openapi.json"
SEED_FILE = "runway-characters-seed-openapi.yml"

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]*")

PRODUCTION_ERROR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "issues": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "path": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "message": {"type": "string"},
                },
                "required": ["code", "path", "message"],
            },
        },
        "docUrl": {"type": "string", "format": "uri"},
    },
    "required": ["error"],
    "additionalProperties": False,
}

FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time (jsonschema needs an extra package for this; we do not)."""
    if not isinstance(value, str):
        return True
    match = _RFC3339.fullmatch(value)
    if match is None:
        return False
    normalised = value.upper().replace("Z", "+00:00")
    if match.group(1) and len(match.group(1)) > 6:  # fromisoformat stops at microseconds
        normalised = normalised.replace(match.group(1), match.group(1)[:6])
    try:
        datetime.fromisoformat(normalised)
    except ValueError:
        return False
    return True


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    """An absolute URI: a scheme, a colon, and no whitespace."""
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


@dataclass(frozen=True)
class _Spec:
    name: str
    uri: str
    document: dict[str, Any]
    registry: Registry
    base_path: str
    error_schema: dict[str, Any]


@cache
def _load(dialect: str) -> _Spec:
    """The parsed description; `reference_file` skips the test when it is absent."""
    uri = f"urn:runway-openapi:{dialect}"
    if dialect == "production":
        path = reference_file(PRODUCTION_FILE)
        document = json.loads(path.read_text(encoding="utf-8"))
        base_path, error_schema = "", PRODUCTION_ERROR
    elif dialect == "seed":
        path = reference_file(SEED_FILE)
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        base_path = "/v1"
        error_schema = {"$ref": f"{uri}#/components/schemas/ErrorResponse"}
    else:
        raise ValueError(f"unknown Runway dialect {dialect!r}")
    registry = Registry().with_resource(uri, Resource(document, specification=DRAFT202012))
    return _Spec(path.name, uri, document, registry, base_path, error_schema)


def _dialect_name(dialect: object) -> str:
    return str(getattr(dialect, "value", dialect))


def _find(spec: _Spec, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The spec path and operation for a request path, literal paths before templates."""
    path = urlsplit(path).path
    if not path.startswith(spec.base_path):
        return None
    path = path[len(spec.base_path) :] or "/"
    paths: dict[str, Any] = spec.document["paths"]
    candidates = [path] if path in paths else []
    candidates += [
        template
        for template in paths
        if "{" in template
        and re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path)
    ]
    for template in candidates:
        operation = paths[template].get(method.lower())
        if operation is not None:
            return template, operation
    return None


def _check(spec: _Spec, schema: dict[str, Any], instance: Any, what: str) -> None:
    validator = Draft202012Validator(schema, registry=spec.registry, format_checker=FORMATS)
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        error = _narrow(error)
        raise AssertionError(
            f"{what} does not match {spec.name}: {error.message} (at {error.json_path})"
        )


def _narrow(error: ValidationError) -> ValidationError:
    """Inside a oneOf, the error of the one branch whose discriminator matched, if any.

    "is not valid under any of the given schemas" says little; the branch for the
    object's own `status` or `type` says what is wrong with it.
    """
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return error
    branches: dict[object, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.relative_schema_path[0]].append(sub)
    plausible = [errs for errs in branches.values() if all(e.validator != "const" for e in errs)]
    if len(plausible) != 1:
        return error
    narrowed = best_match(plausible[0])
    return error if narrowed is None else _narrow(narrowed)


def _ref(spec: _Spec, *parts: str) -> dict[str, Any]:
    """A `$ref` into the description, so relative `$ref`s inside it resolve from its root."""
    pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)
    return {"$ref": f"{spec.uri}#/{quote(pointer, safe='/~')}"}


def validate_runway_request(dialect: object, method: str, path: str, body: Any) -> bool:
    """Check a request body against the operation's `requestBody` schema."""
    spec = _load(_dialect_name(dialect))
    found = _find(spec, method, path)
    if found is None:
        return False
    template, operation = found
    what = f"{method.upper()} {path} request body"
    request_body = operation.get("requestBody")
    if request_body is None:
        if body is not None:
            raise AssertionError(f"{what}: {template} takes no body in {spec.name}")
        return True
    if body is None:
        if request_body.get("required"):
            raise AssertionError(f"{what}: a body is required by {spec.name}")
        return True
    _check(
        spec,
        _ref(
            spec,
            "paths",
            template,
            method.lower(),
            "requestBody",
            "content",
            "application/json",
            "schema",
        ),
        body,
        what,
    )
    return True


def validate_runway_response(
    dialect: object, method: str, path: str, status: int, body: Any
) -> bool:
    """Check a response (status and JSON body, None for no body) against the operation."""
    spec = _load(_dialect_name(dialect))
    found = _find(spec, method, path)
    if found is None:
        return False
    template, operation = found
    what = f"{method.upper()} {path} response {status}"
    response = operation.get("responses", {}).get(str(status))
    if response is None:
        if status < 400:
            raise AssertionError(f"{what}: status {status} is not documented in {spec.name}")
        _check(spec, spec.error_schema, body, what)
        return True
    content = response.get("content", {}).get("application/json")
    if content is None:
        if body is not None:
            raise AssertionError(f"{what}: {spec.name} documents no body, got {body!r}")
        return True
    _check(
        spec,
        _ref(
            spec,
            "paths",
            template,
            method.lower(),
            "responses",
            str(status),
            "content",
            "application/json",
            "schema",
        ),
        body,
        what,
    )
    return True
