"""The join page in headless Chromium, against the real routes and a fake backend.

One browser, one bot web server and one LiveKit stand-in serve the whole module. Each test
opens its own browser context: microphone permission is granted per context (and withheld
for the "denied" test), with Chromium's fake audio device behind it. The connection test
uses the real livekit-client build from node_modules against the stand-in; the in-call
tests swap in `fake_livekit.js` so the page can get through a whole call without a LiveKit
server. Screenshots of every state land in test-artifacts/join/.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from bot.services.join_types import JoinState
from bot.web.security import JoinRateLimits, Rate
from bot.web.server import build_app
from tests.web.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.web.fake_backend import FakeBackend
from tests.web.livekit_standin import LiveKitStandIn

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

FAKE_LIVEKIT = Path(__file__).with_name("fake_livekit.js")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
END_CALL = json.dumps({"type": "END_CALL"}, separators=(",", ":"))
# Every test of the module shares one site and one address (127.0.0.1). The production
# limits (10 credential requests a minute) would make a test fail or pass depending on which
# tests ran just before it in random order; the limits have their own tests in test_security.
ROOMY = Rate(10_000, 60.0)
ROOMY_LIMITS = JoinRateLimits(page=ROOMY, credentials=ROOMY, ended=ROOMY, picture=ROOMY)


@dataclass
class Site:
    url: str
    backend: FakeBackend
    standin: LiveKitStandIn


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site() -> AsyncIterator[Site]:
    livekit_build = require_browser()
    backend = FakeBackend()
    async with LiveKitStandIn().serve() as standin:
        app = build_app(
            backend,
            livekit_dist=livekit_build,
            livekit_origins=[standin.url],
            rate_limits=ROOMY_LIMITS,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        try:
            yield Site(f"http://127.0.0.1:{port}", backend, standin)
        finally:
            await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(site: Site) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright  # noqa: PLC0415 (optional dependency)

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=20_000
        )
        yield chromium
        await chromium.close()


OpenPage = Callable[..., Awaitable[Any]]


@pytest_asyncio.fixture(loop_scope="module")
async def open_page(browser: Any, site: Site) -> AsyncIterator[OpenPage]:
    """Open a join link in a fresh context; after the test, no CSP violation may have shown."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    site.backend.redeem_delay = 0.0
    contexts: list[Any] = []
    console: list[str] = []

    async def open_link(
        code: str,
        *,
        microphone: bool = True,
        fake_livekit: bool = False,
        phone: bool = False,
        fake_clock: bool = False,
    ) -> Any:
        context = await browser.new_context(
            permissions=["microphone"] if microphone else [],
            viewport=PHONE if phone else DESKTOP,
            is_mobile=phone,
            has_touch=phone,
            device_scale_factor=2 if phone else 1,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = await context.new_page()
        page.on("console", lambda message: console.append(message.text))
        if fake_clock:
            await page.clock.install()  # runs in real time until a test jumps it forward
        if fake_livekit:
            await page.route(
                "**/static/vendor/livekit-client.js*",
                lambda route: route.fulfill(path=FAKE_LIVEKIT, content_type="text/javascript"),
            )
        await page.goto(f"{site.url}/join/{code}")
        return page

    yield open_link
    for context in contexts:
        await context.close()
    violations = [text for text in console if "Content Security Policy" in text]
    assert violations == []


async def state(page: Any, name: str) -> None:
    await page.wait_for_selector(f'#app[data-state="{name}"]')


async def shoot(page: Any, name: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def video_playing(page: Any) -> None:
    """Wait for frames in the avatar's video (polled from here: the page's CSP forbids the
    eval that Playwright's wait_for_function would need)."""
    for _ in range(200):
        if await page.evaluate("document.getElementById('avatar-video').readyState >= 2"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the avatar's video never played")


async def eventually(check: Callable[[], bool]) -> None:
    """Wait up to 5 s for something the page reports to the bot in the background."""
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the bot never heard about it")


async def test_join_warms_up_then_connects_to_livekit_with_the_given_token(open_page, site):
    code = site.backend.issue(avatar_name="Nova", url=site.standin.url, token="tok-for-nova")
    site.backend.redeem_delay = 1.5  # Runway warming up
    page = await open_page(code)

    await state(page, "ready")
    await shoot(page, "01-ready")
    await page.click("#join")
    await state(page, "warming")
    assert "Warming up Nova" in await page.text_content("#title")
    await shoot(page, "02-warming-up")

    attempt = await site.standin.first_attempt(within=15)
    assert attempt.token == "tok-for-nova"
    assert attempt.path.startswith("/rtc")
    await state(page, "failed")
    assert await page.is_visible("#retry")
    await shoot(page, "03-connection-failed")
    assert site.backend.calls_to("redeem").count(code) == 1


async def test_used_and_unknown_links_show_the_same_page(open_page, site):
    used = await open_page(site.backend.issue(state=JoinState.USED))
    unknown = await open_page(FakeBackend().issue())

    text = await used.text_content("main")
    assert "already been used or is not valid" in text
    assert "/session start" in text
    assert text == await unknown.text_content("main")
    await shoot(used, "used-link")


async def test_expired_link_page(open_page, site):
    page = await open_page(site.backend.issue(state=JoinState.EXPIRED))

    assert "This link has expired" in await page.text_content("h1")
    await shoot(page, "expired-link")


async def test_blocked_microphone_explains_and_keeps_the_link(open_page, site):
    code = site.backend.issue()
    page = await open_page(code, microphone=False)

    await state(page, "ready")
    await page.click("#join")
    await state(page, "mic-denied")

    assert "Microphone blocked" in await page.text_content("#title")
    assert await page.evaluate("document.activeElement.id") == "retry"
    assert code not in site.backend.calls_to("redeem")
    await shoot(page, "microphone-denied")


async def test_a_whole_call_by_keyboard_ending_with_end_call(open_page, site):
    code = site.backend.issue(avatar_name="Nova", token="tok-call", ends_in=280)
    page = await open_page(code, fake_livekit=True)

    await state(page, "ready")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "join"
    await page.keyboard.press("Enter")
    await state(page, "call")
    await video_playing(page)
    await shoot(page, "04-in-call")

    fake = await page.evaluate("globalThis.__fakeLivekit")
    assert fake["connects"] == [{"url": "wss://livekit.example.test", "token": "tok-call"}]
    assert fake["tracks"] == [{"kind": "audio", "source": "microphone"}]
    assert await page.is_hidden("#warning")
    timer = await page.text_content("#timer")
    assert timer is not None
    assert timer.startswith(("4:3", "4:4"))

    await page.click("#mute")
    assert await page.get_attribute("#mute", "aria-pressed") == "true"
    assert await page.text_content("#mute") == "Unmute microphone"

    await page.click("#end")
    await state(page, "ended")
    assert "You ended the call" in await page.text_content("#status")
    fake = await page.evaluate("globalThis.__fakeLivekit")
    assert fake["data"] == [{"text": END_CALL, "reliable": True}]
    assert fake["disconnects"] == 1
    await eventually(lambda: (code, "member_ended") in site.backend.ended_reasons)
    await shoot(page, "06-ended-by-member")


async def test_warning_then_the_time_limit_ends_the_call(open_page, site):
    code = site.backend.issue(max_seconds=300, ends_in=60)
    page = await open_page(code, fake_livekit=True, fake_clock=True)

    await page.click("#join")
    await state(page, "call")
    await video_playing(page)
    assert await page.is_hidden("#warning")
    await page.clock.fast_forward("00:35")
    await page.wait_for_selector("#warning", state="visible")
    assert "timer-warning" in (await page.get_attribute("#timer", "class") or "")
    await shoot(page, "05-time-warning")
    await page.clock.fast_forward("00:30")

    await state(page, "ended")
    status = await page.text_content("#status")
    assert status == "Time's up: the call reached its 5-minute time limit."
    fake = await page.evaluate("globalThis.__fakeLivekit")
    assert fake["data"] == [{"text": END_CALL, "reliable": True}]
    await eventually(lambda: (code, "time_limit") in site.backend.ended_reasons)
    await shoot(page, "07-time-up")


async def test_room_closed_by_the_server_says_the_call_is_over(open_page, site):
    code = site.backend.issue(ends_in=280)
    page = await open_page(code, fake_livekit=True)

    await page.click("#join")
    await state(page, "call")
    await page.evaluate("globalThis.__fakeLivekit.room.serverCloses()")

    await state(page, "ended")
    assert "disconnected" in await page.text_content("#status")
    assert "/session start" in await page.text_content("#hint")
    await eventually(lambda: (code, "disconnected") in site.backend.ended_reasons)
    await shoot(page, "08-disconnected")


async def test_call_cut_at_runways_cap_says_so(open_page, site):
    """Runway ends calls at about 5 minutes even when 15 were asked; the page says why."""
    code = site.backend.issue(max_seconds=900, ends_in=900)
    page = await open_page(code, fake_livekit=True, fake_clock=True)

    await page.click("#join")
    await state(page, "call")
    await page.clock.fast_forward("05:00")
    await page.evaluate("globalThis.__fakeLivekit.room.serverCloses()")

    await state(page, "ended")
    assert "Runway ends calls at about 5 minutes" in await page.text_content("#status")
    await eventually(lambda: (code, "time_limit") in site.backend.ended_reasons)
    await shoot(page, "09-ended-at-runway-cap")


async def test_phone_screen(open_page, site):
    page = await open_page(
        site.backend.issue(avatar_name="Nova", ends_in=280), phone=True, fake_livekit=True
    )

    await state(page, "ready")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await shoot(page, "mobile-ready")
    await page.tap("#join")
    await state(page, "call")
    await video_playing(page)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await shoot(page, "mobile-in-call")


async def test_reload_during_warm_up_rejoins_the_same_call_from_the_same_browser(
    open_page, site, browser
):
    code = site.backend.issue(avatar_name="Nova", token="tok-same-call", ends_in=280)
    site.backend.redeem_delay = 2.0  # Runway warming up
    page = await open_page(code, fake_livekit=True)
    await page.click("#join")
    await state(page, "warming")

    await page.reload()  # the member reloads (or closes and reopens) mid warm-up
    await state(page, "rejoin")
    assert "still running" in await page.text_content("#title")
    await shoot(page, "10-rejoin-after-reload")
    await page.click("#rejoin")
    await state(page, "call")

    fake = await page.evaluate("globalThis.__fakeLivekit")
    assert fake["connects"] == [{"url": "wss://livekit.example.test", "token": "tok-same-call"}]
    assert site.backend.calls_to("redeem").count(code) >= 2  # the first, then the rejoin

    # Another browser (no secret) with the same link gets nothing, and is told what works.
    stranger = await open_page(code, fake_livekit=True)
    await state(stranger, "used-elsewhere")
    text = await stranger.text_content("main")
    assert "/session end" in text
    assert "/session start" in text
    assert await stranger.is_hidden("#rejoin")
    await shoot(stranger, "11-used-in-another-browser")


async def test_a_dropped_connection_offers_rejoin_and_does_not_end_the_call(open_page, site):
    code = site.backend.issue(token="tok-drop", ends_in=280)
    page = await open_page(code, fake_livekit=True)
    await page.click("#join")
    await state(page, "call")

    await page.evaluate("globalThis.__fakeLivekit.room.connectionDrops()")
    await state(page, "dropped")
    assert "still running" in await page.text_content("#status")
    assert await page.is_visible("#rejoin")
    assert await page.is_visible("#end")
    await shoot(page, "12-connection-dropped")
    await page.click("#rejoin")
    await state(page, "call")

    fake = await page.evaluate("globalThis.__fakeLivekit")
    assert [attempt["token"] for attempt in fake["connects"]] == ["tok-drop", "tok-drop"]

    # Dropped again, and this time the member reloads: the call is still theirs.
    await page.evaluate("globalThis.__fakeLivekit.room.connectionDrops()")
    await state(page, "dropped")
    await page.reload()
    await state(page, "rejoin")
    await page.click("#rejoin")
    await state(page, "call")
    assert not any(reported == code for reported, _ in site.backend.ended_reasons)
