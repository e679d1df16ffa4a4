"""Checking a reference image by its bytes, and packing it for Runway.

A file's name and the content type a client claims prove nothing, so the format is read
from the bytes and the image is decoded before anything is sent or stored. Decoding is
CPU work: callers run these functions in a worker thread. Pillow is imported on first use,
not at start-up: most processes never check an image, and it costs ~2 MiB resident.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass
from typing import Final

from bot.errors import InvalidInput
from bot.runway import catalog

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MIN_SIDE: Final = 128
MAX_PIXELS: Final = 40_000_000
RECOMMENDED_SIDE: Final = 512

_FORMATS: Final = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# What a refused file most likely is, by its first bytes, for a message that names it.
_KNOWN_OTHERS: Final = (
    (b"GIF87a", "a GIF"),
    (b"GIF89a", "a GIF"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"BM", "a BMP bitmap"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"<svg", "an SVG drawing"),
    (b"<?xml", "an XML or SVG file"),
    (b"\x00\x00\x00\x18ftypheic", "a HEIC photo"),
    (b"\x00\x00\x00\x1cftypheic", "a HEIC photo"),
)

_WHAT_WORKS: Final = "Use a JPEG, PNG or WebP image."


@dataclass(frozen=True, slots=True)
class CheckedImage:
    data: bytes
    mime: str
    width: int
    height: int


def check_image(data: bytes) -> CheckedImage:
    """Accept only real JPEG, PNG or WebP images of sensible size, or say why not."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - see the module docstring

    if not data:
        raise InvalidInput("The image file is empty. " + _WHAT_WORKS)
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(
            f"The image is {_megabytes(len(data))}; the limit is {_megabytes(MAX_IMAGE_BYTES)}. "
            "Export a smaller copy (a 1024-pixel portrait is plenty)."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=tuple(_FORMATS)) as image:
                fmt = image.format or ""
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise _too_many_pixels(f"{width}×{height} pixels")
                image.load()
    except UnidentifiedImageError:
        raise InvalidInput(_not_an_image(data)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (OSError, SyntaxError, ValueError):
        raise InvalidInput(
            "The image file is damaged or cut short, so it cannot be read. " + _WHAT_WORKS
        ) from None
    if min(width, height) < MIN_SIDE:
        raise InvalidInput(
            f"The image is only {width}×{height} pixels; it needs at least {MIN_SIDE} on each "
            f"side (a clear portrait of {RECOMMENDED_SIDE} pixels or more works best)."
        )
    return CheckedImage(data=data, mime=_FORMATS[fmt], width=width, height=height)


def data_uri(image: CheckedImage, *, limit: int = catalog.REFERENCE_DATA_URI_MAX) -> str:
    """The image as a `data:` URI within Runway's size limit, scaled down when needed.

    Sending the bytes, not a link, means Discord's expiring attachment URLs never matter.
    """
    uri = _encode(image.mime, image.data)
    if len(uri) <= limit:
        return uri
    from PIL import Image  # noqa: PLC0415 - see the module docstring

    with Image.open(io.BytesIO(image.data)) as source:
        picture = source.convert("RGB")
    scale = 1.0
    while scale > 0.05:
        scale *= 0.8
        size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
        buffer = io.BytesIO()
        picture.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=88)
        uri = _encode("image/jpeg", buffer.getvalue())
        if len(uri) <= limit:
            return uri
    raise InvalidInput("The image could not be made small enough for Runway. " + _WHAT_WORKS)


def _encode(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _not_an_image(data: bytes) -> str:
    head = data[:64].lstrip()
    for magic, name in _KNOWN_OTHERS:
        if head.startswith(magic):
            return f"That file is {name}, not a JPEG, PNG or WebP image. {_WHAT_WORKS}"
    return f"That file is not an image the bot can use. {_WHAT_WORKS}"


def _too_many_pixels(size: str = "too many pixels") -> InvalidInput:
    return InvalidInput(
        f"The image has {size}, more than the bot accepts "
        f"({MAX_PIXELS // 1_000_000} megapixels). Export a smaller copy."
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
