"""A JoinBackend in memory: codes with a state, and a record of every call made to it."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field

from bot.services.join_types import JoinCredentials, JoinPicture, JoinState, JoinView
from bot.web.join import JoinBackend


@dataclass
class IssuedCode:
    state: JoinState
    view: JoinView
    credentials: JoinCredentials
    picture: JoinPicture | None = None
    secret: str | None = None
    """The secret the first redeem came with: that browser alone may redeem again."""
    ready: bool = False
    """Whether the first redeem has finished (until then a rejoin is WARMING)."""


@dataclass
class FakeBackend(JoinBackend):
    """Codes are issued by the test; redeem hands out credentials once, like the real one."""

    codes: dict[str, IssuedCode] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    ended_reasons: list[tuple[str, str]] = field(default_factory=list)
    redeem_delay: float = 0.0
    error: Exception | None = None

    def issue(
        self,
        *,
        state: JoinState = JoinState.OK,
        avatar_name: str = "Nova",
        max_seconds: int = 300,
        ends_in: int = 300,
        url: str = "wss://livekit.example.test",
        token: str | None = None,
        picture: bytes | None = None,
    ) -> str:
        code = secrets.token_urlsafe(16)
        now = int(time.time())
        self.codes[code] = IssuedCode(
            state=state,
            view=JoinView(
                avatar_name=avatar_name,
                max_seconds=max_seconds,
                expires_at=now + 900,
                has_picture=picture is not None,
            ),
            credentials=JoinCredentials(
                url=url,
                token=token or f"token-{secrets.token_hex(8)}",
                room_name=f"room-{secrets.token_hex(4)}",
                ends_at=now + ends_in,
                max_seconds=max_seconds,
                avatar_name=avatar_name,
            ),
            picture=None if picture is None else JoinPicture(picture, "image/jpeg"),
        )
        return code

    def calls_to(self, method: str) -> list[str]:
        return [code for name, code in self.calls if name == method]

    async def view(self, code: str) -> tuple[JoinState, JoinView | None]:
        self.calls.append(("view", code))
        if self.error is not None:
            raise self.error
        issued = self.codes.get(code)
        if issued is None:
            return JoinState.UNKNOWN, None
        shown = issued.state in (JoinState.OK, JoinState.IN_USE)
        return issued.state, issued.view if shown else None

    async def redeem(
        self, code: str, secret: str | None = None
    ) -> tuple[JoinState, JoinCredentials | None]:
        self.calls.append(("redeem", code))
        if self.error is not None:
            raise self.error
        issued = self.codes.get(code)
        if issued is None:
            return JoinState.UNKNOWN, None
        if issued.state is JoinState.IN_USE:
            if secret is None or secret != issued.secret:
                return JoinState.USED, None
            return (JoinState.OK, issued.credentials) if issued.ready else (JoinState.WARMING, None)
        if issued.state is not JoinState.OK:
            return issued.state, None
        issued.state, issued.secret = JoinState.IN_USE, secret
        await asyncio.sleep(self.redeem_delay)
        issued.ready = True
        return JoinState.OK, issued.credentials

    async def ended(self, code: str, reason: str) -> None:
        self.calls.append(("ended", code))
        if self.error is not None:
            raise self.error
        self.ended_reasons.append((code, reason))

    async def picture(self, code: str) -> tuple[JoinState, JoinPicture | None]:
        self.calls.append(("picture", code))
        if self.error is not None:
            raise self.error
        issued = self.codes.get(code)
        if issued is None:
            return JoinState.UNKNOWN, None
        return issued.state, issued.picture if issued.state is JoinState.OK else None
