"""The avatar's picture beside its name on the join page, in headless Chromium.

Uses the browser, server and page fixtures of test_join_browser.py (imported below, so this
module gets its own instances). The picture is a portrait drawn here and encoded by the
bot's own picture code, as the bot would serve it. Screenshots land in test-artifacts/join/:
picture-desktop.png, picture-phone.png and picture-preset.png.
"""

# ruff: noqa: F401, F811 - pytest fixtures are imported by name and received as arguments

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageDraw

from bot.services.images import check_image, square_picture
from tests.web.test_join_browser import browser, open_page, shoot, site, state

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


def portrait() -> bytes:
    """A recognisable stand-in face: skin-toned head, hair, eyes, smile, on a teal backdrop."""
    image = Image.new("RGB", (640, 800), (18, 112, 128))
    draw = ImageDraw.Draw(image)
    draw.ellipse((150, 120, 490, 520), fill=(92, 58, 40))  # hair
    draw.ellipse((180, 190, 460, 540), fill=(236, 188, 150))  # face
    draw.rectangle((200, 560, 440, 800), fill=(120, 80, 200))  # shoulders
    for x in (260, 380):
        draw.ellipse((x - 18, 320, x + 18, 356), fill=(40, 40, 60))  # eyes
    draw.arc((250, 380, 390, 470), start=20, end=160, fill=(170, 60, 70), width=10)  # smile
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return square_picture(check_image(buffer.getvalue()))


async def geometry(page: Any, selector: str) -> dict[str, float]:
    box = await page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    return dict(box)


async def picture_loaded(page: Any) -> bool:
    loaded: bool = await page.evaluate(
        "(() => { const img = document.getElementById('portrait');"
        " return img.complete && img.naturalWidth > 0; })()"
    )
    return loaded


async def beside_the_name(page: Any, side: float) -> None:
    picture = await geometry(page, ".portrait")
    title = await geometry(page, "#title")
    assert abs(picture["width"] - side) < 1
    assert abs(picture["height"] - side) < 1
    assert picture["x"] + picture["width"] <= title["x"], "the picture is left of the name"
    middle = picture["y"] + picture["height"] / 2
    assert title["y"] - 20 <= middle <= title["y"] + title["height"] + 20, "on the same line"


async def test_the_picture_shows_beside_the_name_on_a_desktop(open_page, site):
    code = site.backend.issue(avatar_name="Nova", picture=portrait())
    page = await open_page(code)

    await state(page, "ready")
    await page.wait_for_load_state("load")
    assert await picture_loaded(page)
    await beside_the_name(page, 88)
    assert await page.text_content("#title") == "Talk to Nova"
    await shoot(page, "picture-desktop")
    assert code in site.backend.calls_to("picture")
    assert code not in site.backend.calls_to("redeem")


async def test_the_picture_shows_beside_the_name_on_a_phone(open_page, site):
    code = site.backend.issue(avatar_name="Nova", picture=portrait())
    page = await open_page(code, phone=True)

    await state(page, "ready")
    await page.wait_for_load_state("load")
    assert await picture_loaded(page)
    await beside_the_name(page, 64)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await shoot(page, "picture-phone")


async def test_a_preset_shows_its_initial_instead(open_page, site):
    code = site.backend.issue(avatar_name="Cat Character (Runway preset)")
    page = await open_page(code)

    await state(page, "ready")
    assert await page.is_hidden("#portrait")
    assert await page.text_content(".monogram") == "C"
    await beside_the_name(page, 88)
    await shoot(page, "picture-preset")
    assert code not in site.backend.calls_to("picture")
