"""The small, real MP4 the sandbox hands out for a finished avatar video.

Made with PyAV (FFmpeg's libraries, bundled in its wheel): the avatar's own image (when the
bot sent its bytes) or a plain card, with a bar that moves like a speaking mouth, for as
long as the speech lasts, with the member's audio as its sound track (silence for a text).
H.264 and AAC in MP4 are what Discord plays inline. Small on purpose (a 256-pixel square at
8 frames a second): it proves the whole path, not the picture quality.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
from fractions import Fraction
from typing import Any, Final

FPS: Final = 8
SIDE: Final = 256
AUDIO_RATE: Final = 24_000
_AUDIO_FRAME: Final = 1024


def render_clip(*, seconds: float, image: str | None, audio: bytes | None, seed: str) -> bytes:
    """An MP4 of `seconds` (at least one frame): `image` is the avatar's reference image as
    Runway got it (a `data:image/...` URI is used, anything else gives a card coloured by
    `seed`); `audio` the speech's encoded bytes, if it was recorded."""
    import av  # noqa: PLC0415 - only the sandbox renders video

    picture = _picture(image, seed)
    frames = max(1, math.ceil(seconds * FPS))
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width = video.height = SIDE
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "tune": "stillimage"}
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for index in range(frames):
            frame = av.VideoFrame.from_image(_speaking(picture, index))  # type: ignore[no-untyped-call]
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for chunk in _sound(audio, frames / FPS):
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    return out.getvalue()


def audio_seconds(data: bytes) -> float | None:
    """How long recorded speech plays, by decoding it; None if it cannot be decoded."""
    import av  # noqa: PLC0415

    total = 0.0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                return None
            for frame in container.decode(audio=0):
                total += frame.samples / (frame.sample_rate or 1)
    except (av.FFmpegError, ValueError):
        return None
    return total or None


def _picture(image: str | None, seed: str) -> Any:
    from PIL import Image  # noqa: PLC0415

    if image is not None and image.startswith("data:image/"):
        try:
            raw = base64.b64decode(image.partition(",")[2], validate=True)
            with Image.open(io.BytesIO(raw)) as opened:
                return opened.convert("RGB").resize((SIDE, SIDE))
        except (OSError, ValueError, binascii.Error):
            pass
    colour = tuple(hashlib.sha256(seed.encode()).digest()[:3])
    return Image.new("RGB", (SIDE, SIDE), colour)


def _speaking(picture: Any, index: int) -> Any:
    """The picture with a bar near the bottom whose width follows a talking rhythm."""
    from PIL import ImageDraw  # noqa: PLC0415

    frame = picture.copy()
    width = int(SIDE * (0.15 + 0.2 * abs(math.sin(index * 1.7))))
    middle, top = SIDE // 2, int(SIDE * 0.78)
    ImageDraw.Draw(frame).rectangle(
        (middle - width // 2, top, middle + width // 2, top + 10), fill=(20, 20, 20)
    )
    return frame


def _sound(audio: bytes | None, seconds: float) -> Any:
    """Mono AAC-ready frames: the recording resampled, or silence, exactly `seconds` long."""
    import av  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    wanted = int(seconds * AUDIO_RATE)
    samples = np.zeros(wanted, dtype=np.float32)
    if audio is not None:
        decoded = _decoded(audio)[:wanted]
        samples[: len(decoded)] = decoded
    pts = 0
    for start in range(0, wanted, _AUDIO_FRAME):
        chunk = samples[start : start + _AUDIO_FRAME]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = Fraction(1, AUDIO_RATE)
        pts += len(chunk)
        yield frame


def _decoded(audio: bytes) -> Any:
    import av  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)
    parts = []
    try:
        with av.open(io.BytesIO(audio), mode="r") as container:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray()[0])
            for out in resampler.resample(None):
                parts.append(out.to_ndarray()[0])
    except (av.FFmpegError, ValueError):
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
