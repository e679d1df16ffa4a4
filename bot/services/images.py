"""Checking a reference image by its bytes, and packing it for Runway, in bounded memory.

A file's name and the content type a client claims prove nothing, so the format is read
from the bytes (JPEG, PNG or WebP only) and the image is decoded whole before anything is
sent or stored. Decoding uses libvips (pyvips) in sequential mode: pixels stream through in
strips, so a 36-megapixel PNG is checked in a few MB of working memory instead of the
100+ MB a full decode holds, and when it must be made smaller it is shrunk while it is
read (JPEG and WebP decode straight at a fraction of their size). These functions run in a
short-lived worker process (`bot.services.jobs`), never in the bot itself: whatever libvips
allocates goes back to the system when the worker exits.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Final

from bot.errors import InvalidInput
from bot.runway import catalog

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MIN_SIDE: Final = 128
MAX_PIXELS: Final = 40_000_000
RECOMMENDED_SIDE: Final = 512

_FORMATS: Final = {
    "jpegload_buffer": "image/jpeg",
    "pngload_buffer": "image/png",
    "webpload_buffer": "image/webp",
}
_MAGIC: Final = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
PICTURE_SIDE: Final = 384
"""Pixels per side of an avatar's picture: sharp at the join page's 88 CSS pixels on a 3x
phone and in a review post."""
PICTURE_QUALITY: Final = 85
PICTURE_BACKGROUND: Final = (30, 31, 34)  # what transparent pixels become
FIRST_SIDE: Final = 2048
"""The longest side tried first when an image must be made smaller (plenty for a face)."""
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


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """What the worker hands back: the checked image's facts, when asked the bytes to send
    Runway (the original when it fits, else a smaller JPEG), and the avatar's picture."""

    mime: str
    width: int
    height: int
    payload: bytes | None
    picture: bytes


def prepare(data: bytes, limit: int | None) -> PreparedImage:
    """Check the image; with a `limit` (the data: URI's length Runway takes), also pack it."""
    checked = check_image(data)
    picture = square_picture(checked)
    if limit is None:
        return PreparedImage(checked.mime, checked.width, checked.height, None, picture)
    mime, payload = _fitting(checked, limit)
    return PreparedImage(mime, checked.width, checked.height, payload, picture)


def picture_of(data: bytes) -> bytes:
    """Check an image (e.g. Runway's processed one) and make the avatar's picture of it."""
    return square_picture(check_image(data))


def square_picture(image: CheckedImage, *, side: int = PICTURE_SIDE) -> bytes:
    """The image as a small square JPEG for join pages and review posts.

    Cropped around what libvips finds most interesting (a face, in a portrait), shrunk while
    it is decoded, orientation applied, transparency flattened onto Discord's darkest grey
    and metadata dropped: only pixels the bot encoded itself ever reach a browser.
    """
    vips = _vips()
    size = min(side, image.width, image.height)
    square = vips.Image.thumbnail_buffer(image.data, size, height=size, crop="attention")
    if square.hasalpha():
        square = square.flatten(background=list(PICTURE_BACKGROUND))
    if square.interpretation not in ("srgb", "b-w"):
        square = square.colourspace("srgb")
    picture: bytes = square.jpegsave_buffer(Q=PICTURE_QUALITY, strip=True, interlace=True)
    return picture


def check_image(data: bytes) -> CheckedImage:
    """Accept only real JPEG, PNG or WebP images of sensible size, or say why not."""
    if not data:
        raise InvalidInput("The image file is empty. " + _WHAT_WORKS)
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(
            f"The image is {_megabytes(len(data))}; the limit is {_megabytes(MAX_IMAGE_BYTES)}. "
            "Export a smaller copy (a 1024-pixel portrait is plenty)."
        )
    if _sniff(data) is None:
        raise InvalidInput(_not_an_image(data))
    vips = _vips()
    try:
        image = vips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
        mime = _FORMATS.get(str(image.get("vips-loader")))
        width, height = image.width, image.height
        if mime is None:
            raise InvalidInput(_not_an_image(data))
        if width * height > MAX_PIXELS:
            raise _too_many_pixels(f"{width}×{height} pixels")
        image.avg()  # decodes every pixel, strip by strip: a damaged file fails here
    except vips.Error:
        raise InvalidInput(
            "The image file is damaged or cut short, so it cannot be read. " + _WHAT_WORKS
        ) from None
    if min(width, height) < MIN_SIDE:
        raise InvalidInput(
            f"The image is only {width}×{height} pixels; it needs at least {MIN_SIDE} on each "
            f"side (a clear portrait of {RECOMMENDED_SIDE} pixels or more works best)."
        )
    return CheckedImage(data=data, mime=mime, width=width, height=height)


def data_uri(image: CheckedImage, *, limit: int = catalog.REFERENCE_DATA_URI_MAX) -> str:
    """The image as a `data:` URI within Runway's size limit, scaled down when needed.

    Sending the bytes, not a link, means Discord's expiring attachment URLs never matter.
    """
    return encode(*_fitting(image, limit))


def encode(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _fitting(image: CheckedImage, limit: int) -> tuple[str, bytes]:
    """The original when its URI fits, else a JPEG shrunk while decoding, in steps of 0.8."""
    if _uri_length(image.mime, len(image.data)) <= limit:
        return image.mime, image.data
    vips = _vips()
    side = min(FIRST_SIDE, max(image.width, image.height))
    while side >= MIN_SIDE // 2:
        small = vips.Image.thumbnail_buffer(image.data, side, height=side, size="down")
        payload: bytes = small.jpegsave_buffer(Q=88, strip=True)
        if _uri_length("image/jpeg", len(payload)) <= limit:
            return "image/jpeg", payload
        side = int(side * 0.8)
    raise InvalidInput("The image could not be made small enough for Runway. " + _WHAT_WORKS)


def _uri_length(mime: str, size: int) -> int:
    return len(f"data:{mime};base64,") + 4 * -(-size // 3)


def _sniff(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _vips() -> Any:
    """libvips, set up for one image at a time in little memory (this runs in a worker)."""
    import pyvips  # noqa: PLC0415 - only the image worker loads libvips

    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    return pyvips


def _not_an_image(data: bytes) -> str:
    head = data[:64].lstrip()
    for magic, name in _KNOWN_OTHERS:
        if head.startswith(magic):
            return f"That file is {name}, not a JPEG, PNG or WebP image. {_WHAT_WORKS}"
    return f"That file is not an image the bot can use. {_WHAT_WORKS}"


def _too_many_pixels(size: str) -> InvalidInput:
    return InvalidInput(
        f"The image has too many pixels ({size}), more than the bot accepts "
        f"({MAX_PIXELS // 1_000_000} megapixels). Export a smaller copy."
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
