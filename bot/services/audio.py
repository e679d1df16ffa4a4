"""Checking a recording for an avatar video by its bytes, and measuring it by playing it;
measuring the video Runway made of it.

A file's name and the content type Discord reports prove nothing, so the container is read
from the first bytes (Ogg, as Discord voice messages are; MP3; WAV; M4A) and only that one
demuxer of FFmpeg is used on it (PyAV), which keeps what a crafted file can reach small. Its
length is measured by decoding every frame, not read from a header that could claim
anything, and decoding stops as soon as it passes the limit, so a 30-minute file costs no
more than a 5-minute one. This runs in a short-lived worker process (`bot.workers`), never
in the bot itself: FFmpeg's memory goes back to the system when the worker exits.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any, Final

from bot.errors import InvalidInput
from bot.runway import catalog

MAX_AUDIO_BYTES: Final = 12 * 1000 * 1000
"""12 MB: what fits Runway's 16 MB data: URI once base64 makes it a third larger."""
MAX_AUDIO_SECONDS: Final = 300
"""5 minutes: about as long as Runway's longest script (5,000 characters) takes to speak."""
MIN_AUDIO_SECONDS: Final = 0.5

_WHAT_WORKS: Final = (
    "Attach a Discord voice message, or an OGG, MP3, WAV or M4A recording of at most "
    f"{MAX_AUDIO_SECONDS // 60} minutes and {MAX_AUDIO_BYTES // 1_000_000} MB."
)
# (first bytes test, FFmpeg demuxer, MIME type Runway is told)
_M4A_BRANDS: Final = (b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2", b"dash", b"MSNV")
_KNOWN_OTHERS: Final = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1aE\xdf\xa3", "a WebM or MKV file"),
    (b"fLaC", "a FLAC file"),
    (b"#!AMR", "an AMR recording"),
    (b"{", "a text file"),
)


@dataclass(frozen=True, slots=True)
class CheckedAudio:
    mime: str
    seconds: float

    @property
    def whole_seconds(self) -> int:
        return max(1, math.ceil(round(self.seconds, 3)))  # 2.0000000001 s is 2 s


def check_audio(data: bytes, max_seconds: int = MAX_AUDIO_SECONDS) -> CheckedAudio:
    """Accept a real recording of at most `max_seconds`, or say exactly why not."""
    if not data:
        raise InvalidInput("The audio file is empty. " + _WHAT_WORKS)
    if len(data) > MAX_AUDIO_BYTES:
        raise InvalidInput(
            f"The audio file is {_megabytes(len(data))}; the limit is "
            f"{_megabytes(MAX_AUDIO_BYTES)}. " + _WHAT_WORKS
        )
    sniffed = sniff(data)
    if sniffed is None:
        raise InvalidInput(_not_audio(data))
    demuxer, mime = sniffed
    seconds = _measure(data, demuxer, max_seconds)
    if seconds < MIN_AUDIO_SECONDS:
        raise InvalidInput("The recording is too short to speak anything. " + _WHAT_WORKS)
    return CheckedAudio(mime=mime, seconds=seconds)


def clip_seconds(data: bytes) -> float:
    """How long a finished video (Runway's MP4) plays, by its container; InvalidInput when
    it is not a video at all."""
    av = _av()
    try:
        with av.open(io.BytesIO(data), mode="r", format="mov") as container:
            if not container.streams.video or not container.duration:
                raise InvalidInput("The file is not a video.")
            return float(container.duration / 1_000_000)
    except av.FFmpegError:
        raise InvalidInput("The file is not a video.") from None


def data_uri(mime: str, data: bytes) -> str:
    """The recording as Runway takes it inline: never a Discord link, which expires."""
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    if len(uri) > catalog.AUDIO_DATA_URI_MAX:
        raise InvalidInput("The recording is too large for Runway. " + _WHAT_WORKS)
    return uri


def sniff(data: bytes) -> tuple[str, str] | None:
    """(FFmpeg demuxer, MIME type) by the container's first bytes, or None."""
    head = data[:64]
    if head.startswith(b"OggS"):
        return "ogg", "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3", "audio/mpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav", "audio/wav"
    if head[4:8] == b"ftyp" and head[8:12] in _M4A_BRANDS:
        return "mov", "audio/mp4"
    return None


def _measure(data: bytes, demuxer: str, max_seconds: int) -> float:
    av = _av()
    total = 0.0
    try:
        with av.open(io.BytesIO(data), mode="r", format=demuxer) as container:
            if container.streams.video and not _cover_art_only(container):
                raise InvalidInput(
                    "That file is a video. Attach only its sound (a voice message or an audio "
                    "file)."
                )
            if not container.streams.audio:
                raise InvalidInput(_not_audio(data))
            for frame in container.decode(audio=0):
                total += frame.samples / (frame.sample_rate or 1)
                if total > max_seconds:
                    raise _too_long(container, max_seconds)
    except av.FFmpegError:
        raise InvalidInput(
            "The audio file is damaged or cut short, so it cannot be played. " + _WHAT_WORKS
        ) from None
    return total


def _cover_art_only(container: Any) -> bool:
    """An MP3's or M4A's album picture is a one-frame "video" stream; that is fine."""
    return all(
        stream.disposition & stream.disposition.attached_pic for stream in container.streams.video
    )


def _too_long(container: Any, max_seconds: int) -> InvalidInput:
    claimed = container.duration / 1_000_000 if container.duration else None
    length = f" ({_minutes(claimed)})" if claimed and claimed > max_seconds else ""
    return InvalidInput(
        f"The recording is longer than {_minutes(max_seconds)}{length}; avatar videos take "
        f"at most {_minutes(max_seconds)}. Cut it shorter, or send the words as text."
    )


def _av() -> Any:
    import av  # noqa: PLC0415 - only the worker process loads FFmpeg

    av.logging.set_level(av.logging.PANIC)  # a damaged file is our message, not a log line
    return av


def _not_audio(data: bytes) -> str:
    head = data[:64].lstrip()
    for magic, name in _KNOWN_OTHERS:
        if head.startswith(magic):
            return f"That file is {name}, not a recording. {_WHAT_WORKS}"
    return f"That file is not a recording the bot can use. {_WHAT_WORKS}"


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    if minutes >= 1 and float(minutes).is_integer():
        return f"{int(minutes)} minute{'s' if minutes != 1 else ''}"
    if minutes >= 1:
        return f"{minutes:.1f} minutes"
    return f"{round(seconds)} seconds"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
