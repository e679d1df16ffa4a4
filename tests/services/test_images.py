"""Reference images are judged by their bytes, and every refusal says what the file was."""

from __future__ import annotations

import base64
import io
import os
import zlib

import pytest
from PIL import Image

from bot.errors import InvalidInput
from bot.services.images import MAX_IMAGE_BYTES, check_image, data_uri


def picture(fmt: str, size: tuple[int, int] = (512, 512), *, noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (200, 120, 80))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_real_images_pass(fmt: str, mime: str) -> None:
    checked = check_image(picture(fmt))
    assert checked.mime == mime
    assert (checked.width, checked.height) == (512, 512)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (picture("GIF"), "a GIF"),
        (b"%PDF-1.7\n1 0 obj<<>>endobj\n", "a PDF"),
        (b"PK\x03\x04" + b"\x00" * 40, "a ZIP"),
        (picture("BMP"), "a BMP"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "an SVG"),
        (b"just some text pretending to be a png", "not an image"),
        (b"", "empty"),
    ],
)
def test_other_files_are_named(data: bytes, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_image(data)
    assert words in caught.value.user_message
    assert "JPEG, PNG or WebP" in caught.value.user_message


def test_tiny_image_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_image(picture("PNG", (1, 1)))
    assert "1×1" in caught.value.user_message


def test_thirty_megabyte_file_is_refused_by_size() -> None:
    data = picture("PNG") + b"\x00" * (30 * 1024 * 1024)
    assert len(data) > MAX_IMAGE_BYTES
    with pytest.raises(InvalidInput) as caught:
        check_image(data)
    assert "30.0 MB" in caught.value.user_message


def test_truncated_image_is_called_damaged() -> None:
    data = picture("PNG", (600, 600), noise=True)
    with pytest.raises(InvalidInput) as caught:
        check_image(data[: len(data) // 2])
    assert "damaged" in caught.value.user_message


@pytest.mark.parametrize(("side", "words"), [(7000, "7000×7000"), (20000, "too many pixels")])
def test_pixel_bomb_is_refused_before_decoding(side: int, words: str) -> None:
    header = Image.new("L", (1, 1))
    buffer = io.BytesIO()
    header.save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    # Rewrite IHDR to claim side x side pixels; the refusal must come before decoding.
    data[16:24] = side.to_bytes(4, "big") + side.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    with pytest.raises(InvalidInput) as caught:
        check_image(bytes(data))
    assert words in caught.value.user_message
    assert "megapixels" in caught.value.user_message


def test_small_image_is_sent_as_is() -> None:
    checked = check_image(picture("PNG"))
    uri = data_uri(checked)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == checked.data


def test_large_image_is_scaled_to_fit_the_limit() -> None:
    checked = check_image(picture("PNG", (800, 800), noise=True))
    limit = 150_000
    uri = data_uri(checked, limit=limit)
    assert len(uri) <= limit
    assert uri.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded.width < 800
