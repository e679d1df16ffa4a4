"""What Runway keeps of a call: a scripted transcript and a small real recording.

The recording is a short WAV tone made once when the sandbox starts (no binary is stored
anywhere), served by the sandbox itself at a signed address that expires like Runway's
download links do (24 to 48 hours; `SandboxConfig.recording_ttl_seconds`). Asking for the
conversation again gives a fresh link, as at Runway.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import secrets
import struct
import wave
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlencode

from bot.runway.sandbox.errors import SandboxError
from bot.runway.sandbox.records import SessionRecord

RECORDING_ROUTE: Final = "/recordings/{id}"
RECORDING_TYPE: Final = "audio/wav"
_RATE: Final = 8_000
_SECONDS: Final = 1.0
_TONE_HZ: Final = 440.0
_TURN_SECONDS: Final = 4.0
"""How far apart the scripted turns are."""


def default_script(avatar_name: str | None) -> tuple[tuple[str, str], ...]:
    """The few turns every emulated call has unless a test wrote its own."""
    name = avatar_name or "your avatar"
    return (
        ("assistant", f"Hi, I'm {name}. What would you like to talk about?"),
        ("user", "Tell me something surprising."),
        ("assistant", "An octopus has three hearts, and two of them stop when it swims."),
        ("user", "Thanks, that's all for today."),
        ("assistant", "Goodbye, and come back soon!"),
    )


def transcript(
    record: SessionRecord, now: datetime, avatar_name: str | None
) -> list[dict[str, object]]:
    """The turns said so far: none before the call was joined, and (for the default script)
    only those that fit in the time the call has lasted. A written script is said whole."""
    began = record.consumed_at
    if began is None:
        return []
    state = record.state(now)
    until = state.ended_at or now
    script = record.script or default_script(avatar_name)
    step = (
        timedelta(seconds=_TURN_SECONDS) if record.script is None else timedelta(milliseconds=100)
    )
    entries: list[dict[str, object]] = []
    for index, (role, content) in enumerate(script):
        said = began + step * index
        if record.script is None and said > until:
            break
        entries.append({"role": role, "content": content, "timestamp": said})
    return entries


class Recordings:
    """The one recording file, and links to it that carry their own expiry and signature."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._key = secrets.token_bytes(32)
        self.audio = _tone()

    def link(self, base_url: str, session_id: str, now: datetime) -> str:
        expires = int((now + timedelta(seconds=self.ttl_seconds)).timestamp())
        query = urlencode({"expires": expires, "signature": self._sign(session_id, expires)})
        return f"{base_url}{RECORDING_ROUTE.format(id=session_id)}?{query}"

    def check(self, session_id: str, expires: str, signature: str, now: datetime) -> None:
        """Refuse a link that was not made here (403), or whose time is up (403, as a
        storage service answers an expired signed link)."""
        if not expires.isdigit() or not hmac.compare_digest(
            signature, self._sign(session_id, int(expires))
        ):
            raise SandboxError(403, "The recording link is not valid.")
        if now.timestamp() >= int(expires):
            raise SandboxError(403, "The recording link has expired.")

    def _sign(self, session_id: str, expires: int) -> str:
        message = f"{session_id}:{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _tone() -> bytes:
    """One second of a quiet 440 Hz tone, 8 kHz mono 16-bit PCM: 16 KB, a real WAV file."""
    frames = int(_RATE * _SECONDS)
    samples = (
        int(8_000 * math.sin(2 * math.pi * _TONE_HZ * index / _RATE)) for index in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(_RATE)
        out.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))
    return buffer.getvalue()
