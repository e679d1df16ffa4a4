"""Sound files made on the spot, and what a video file really holds, for the video tests.

Nothing is committed: each test makes the few seconds of audio it needs (a Discord voice
message is Ogg Opus; MP3, WAV and M4A are what people attach) with PyAV, and reads a video
back by decoding it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

# Container, encoder, sample rate, sample format.
FORMATS = {
    "ogg": ("ogg", "libopus", 48_000, "flt"),
    "mp3": ("mp3", "libmp3lame", 44_100, "fltp"),
    "wav": ("wav", "pcm_s16le", 16_000, "s16"),
    "m4a": ("ipod", "aac", 44_100, "fltp"),
}


def tone(seconds: float, kind: str = "ogg", *, marker: bytes = b"") -> bytes:
    """`seconds` of a quiet 220 Hz tone in the container `kind`; `marker` is appended as
    trailing bytes (the sandbox's "flag this" test marker survives in the data)."""
    container_format, codec, rate, sample_format = FORMATS[kind]
    out = io.BytesIO()
    with av.open(out, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        total = int(seconds * rate)
        wave = 0.1 * np.sin(np.arange(total) * 2 * np.pi * 220 / rate)
        step = 1152 if kind == "mp3" else 960 if kind == "ogg" else 1024
        for start in range(0, total, step):
            chunk = wave[start : start + step]
            if sample_format == "s16":
                samples = (chunk * 32767).astype(np.int16).reshape(1, -1)
            else:
                samples = chunk.astype(np.float32).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format=sample_format, layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue() + marker


@dataclass(frozen=True)
class VideoFacts:
    seconds: float
    codecs: tuple[str, ...]
    frames: int
    width: int
    height: int


def video_facts(data: bytes) -> VideoFacts:
    """Decode every video frame of an MP4 (so a damaged file fails) and say what it holds."""
    with av.open(io.BytesIO(data), mode="r") as container:
        codecs = tuple(stream.codec_context.name for stream in container.streams)
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        assert container.duration is not None
        return VideoFacts(
            seconds=container.duration / av.time_base,
            codecs=codecs,
            frames=frames,
            width=video.codec_context.width,
            height=video.codec_context.height,
        )
