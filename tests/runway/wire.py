"""Checks every request the client sends, and every success it gets back, against the
OpenAPI description of the dialect it speaks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from bot.runway.client import RunwayClient
from bot.settings import Dialect
from tests.support.reference import has_reference_file
from tests.support.runway_openapi import (
    PRODUCTION_FILE,
    SEED_FILE,
    validate_runway_request,
    validate_runway_response,
)


@dataclass
class Wire:
    dialect: Dialect
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    enabled: bool = True
    expect_invalid: bool = False
    """Set by a test that sends an invalid body on purpose to see Runway's 400."""

    async def on_request(self, request: httpx.Request) -> None:
        body = json.loads(request.content) if request.content else None
        self._check(validate_runway_request, request.method, request.url.path, body)

    async def on_response(self, response: httpx.Response) -> None:
        if not response.is_success:
            return
        await response.aread()
        body = response.json() if response.content else None
        request = response.request
        self._check(
            validate_runway_response,
            request.method,
            request.url.path,
            response.status_code,
            body,
        )

    def _check(self, validator: object, *args: object) -> None:
        try:
            validator(self.dialect.value, *args)  # type: ignore[operator]
        except AssertionError as error:
            self.violations.append(str(error))
        else:
            self.checked += 1

    def assert_clean(self) -> None:
        if self.enabled and not self.expect_invalid:
            assert not self.violations, "\n".join(self.violations)
            assert self.checked > 0, "no request was checked against the OpenAPI description"


def record_wire(client: RunwayClient, dialect: Dialect) -> Wire:
    """Check the client's traffic; without the reference files (a clone elsewhere) the
    client tests still run, only the OpenAPI comparison is left out."""
    spec = PRODUCTION_FILE if dialect is Dialect.PRODUCTION else SEED_FILE
    wire = Wire(dialect, enabled=has_reference_file(spec))
    if not wire.enabled:
        return wire
    hooks = client._http.event_hooks  # the test reaches in; production code has no hook
    hooks["request"].append(wire.on_request)
    hooks["response"].append(wire.on_response)
    return wire
