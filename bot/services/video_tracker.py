"""Following every avatar video Runway is rendering, and delivering it exactly once.

Everything it needs is in the database (a video's task id is recorded the moment Runway
answers), so after a restart it simply picks up the open videos again. Each sweep asks Runway
about every video being rendered: its progress goes to whoever watches it (the member's
reply); a finished one is claimed for posting (RENDERING -> POSTING, one process wins), its
output downloaded through the careful fetcher (https only, size and time capped), its length
measured in a worker, and posted by the `Delivery` the Discord side provides, then settled to
what it cost. A failed or cancelled one ends at no cost, and one that never finishes is
cancelled at Runway after `render_timeout` seconds and costs nothing in the bot's books.

A claimed video whose process died while posting it is posted again with the same nonce, so
Discord (which keeps a nonce a few minutes) shows it once.

What a video cost, in seconds: the length of the file Runway made when the bot downloaded it;
otherwise Runway's `cost` in credits times `VIDEO_SECONDS_PER_CREDIT`; nothing when Runway
refunded it (cost 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from bot.errors import InvalidInput
from bot.net.safe_fetch import SafeFetcher, TooLarge
from bot.runway import catalog
from bot.runway.client import RunwayClient
from bot.runway.errors import NotFoundError as RunwayNotFound
from bot.runway.errors import RunwayError
from bot.runway.models import Task, TaskStatus
from bot.services.background import Background
from bot.storage import Clock, unix_now
from bot.storage.videos import Video, VideoEnd, VideoRepository, VideoState
from bot.workers.pool import JobFailed, WorkerPool

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 5.0
"""Runway updates a task about every five seconds; asking more often shows nothing new."""
RENDER_TIMEOUT_SECONDS: Final = 1_200
"""A video not finished 20 minutes after Runway took it is cancelled there."""


class Watcher(Protocol):
    """Whoever shows a member their video's progress (the command's reply)."""

    async def progress(self, video: Video, task: Task) -> None: ...

    async def ended(self, video: Video) -> bool:
        """Tell the member how it ended; False if they could not be told this way."""
        ...


class Delivery(Protocol):
    """Posting a finished video in its channel; the message's id, or None when the channel
    took no post (the Discord side records why)."""

    async def post_file(self, video: Video, data: bytes, seconds: float | None) -> int | None: ...

    async def post_link(self, video: Video, *, too_large: bool) -> int | None: ...


Ended = Callable[[Video, bool], Awaitable[None]]
"""Called for every video that ends, with whether its watcher told the member already."""


class VideoTracker:
    def __init__(
        self,
        *,
        videos: VideoRepository,
        runway: RunwayClient,
        fetcher: SafeFetcher,
        media: WorkerPool,
        clock: Clock = unix_now,
        poll_seconds: float = POLL_SECONDS,
        render_timeout: int = RENDER_TIMEOUT_SECONDS,
    ) -> None:
        self._videos = videos
        self._runway = runway
        self._fetcher = fetcher
        self._media = media
        self._clock = clock
        self._poll_seconds = poll_seconds
        self.render_timeout = render_timeout
        self._watchers: dict[int, Watcher] = {}
        self._listeners: list[Ended] = []
        self.delivery: Delivery | None = None
        self._wake = asyncio.Event()
        self._loop = Background("video-tracker", self._run)

    def watch(self, video_id: int, watcher: Watcher) -> None:
        self._watchers[video_id] = watcher

    def on_ended(self, listener: Ended) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def wake(self) -> None:
        self._wake.set()

    async def sweep(self) -> None:
        """Check every open video once (also what a restart resumes)."""
        for video in await self._videos.open_videos():
            try:
                await self.check(video)
            except RunwayError:
                log.info("video %s: Runway unreachable, checking later", video.id)

    async def check(self, video: Video) -> None:
        if video.state is VideoState.RESERVED or video.runway_id is None:
            return  # the request is still with Runway; its intent settles it otherwise
        if video.state is VideoState.POSTING:
            await self._deliver(video, await self._task(video))
            return
        task = await self._task(video)
        if task is None:
            await self.end(video, VideoEnd.CANCELLED, failure="it is gone at Runway")
        elif task.status is TaskStatus.SUCCEEDED:
            claimed = await self._videos.claim_posting(video.id)
            if claimed is not None:
                await self._deliver(claimed, task)
        elif task.status.is_final:
            end = VideoEnd.FAILED if task.status is TaskStatus.FAILED else VideoEnd.CANCELLED
            await self.end(video, end, failure=task.failure, credits=_credits(task))
        elif self._clock() - (video.submitted_at or video.created_at) > self.render_timeout:
            await self.cancel_remote(video.runway_id)
            await self.end(video, VideoEnd.TIMED_OUT)
        else:
            watcher = self._watchers.get(video.id)
            if watcher is not None:
                with contextlib.suppress(Exception):  # a failed edit must not stop following
                    await watcher.progress(video, task)

    async def cancel_remote(self, runway_id: str) -> None:
        """Stop a task at Runway; one already cancelled or deleted (404) is fine."""
        with contextlib.suppress(RunwayNotFound):
            await self._runway.cancel_task(runway_id)

    async def end(
        self,
        video: Video,
        end: VideoEnd,
        *,
        failure: str | None = None,
        credits: int | None = None,
    ) -> Video | None:
        """End a video that did not deliver: free unless Runway charged for it anyway."""
        if credits:
            ended = await self._videos.settle(
                video.id,
                used_seconds=credits * catalog.VIDEO_SECONDS_PER_CREDIT,
                cost_credits=credits,
                end=end,
                failure=failure,
            )
        else:
            ended = await self._videos.release(video.id, end, failure=failure)
        if ended is not None:
            log.info("video %s ended: %s", video.id, end.value)
            await self._notify(ended)
        return ended

    async def _task(self, video: Video) -> Task | None:
        assert video.runway_id is not None
        try:
            return await self._runway.get_task(video.runway_id)
        except RunwayNotFound:
            return None

    async def _deliver(self, video: Video, task: Task | None) -> None:
        assert self.delivery is not None, "the Discord side sets the delivery before starting"
        credits = None if task is None else _credits(task)
        data, too_large = None, False
        if task is not None and task.output:
            try:
                data = await self._fetcher.fetch(task.output[0], max_bytes=video.upload_limit)
            except TooLarge:
                too_large = True
            except InvalidInput as problem:
                log.warning("video %s: could not download it (%s)", video.id, problem)
        seconds = await self._measure(data) if data is not None else None
        if data is not None:
            message = await self.delivery.post_file(video, data, seconds)
            end = VideoEnd.POSTED
        else:
            message = await self.delivery.post_link(video, too_large=too_large)
            end = VideoEnd.LINKED
        settled = await self._videos.settle(
            video.id,
            used_seconds=_used_seconds(video, seconds, credits),
            cost_credits=credits,
            end=end if message is not None else VideoEnd.UNPOSTABLE,
            message_id=message,
        )
        if settled is not None:
            log.info("video %s delivered (%s)", video.id, settled.end_reason)
            await self._notify(settled)

    async def _measure(self, data: bytes) -> float | None:
        try:
            seconds: float | None = await self._media.run("clip", data)
        except (JobFailed, InvalidInput):
            log.warning("a finished video could not be measured", exc_info=True)
            return None
        return seconds

    async def _notify(self, video: Video) -> None:
        watcher = self._watchers.pop(video.id, None)
        told = False
        if watcher is not None:
            try:
                told = await watcher.ended(video)
            except Exception:  # an expired reply: the listeners tell the member instead
                log.info("video %s: the member's reply could not be edited", video.id)
        for listener in self._listeners:
            try:
                await listener(video, told)
            except Exception:  # a failed DM must not stop following the others
                log.warning("video-ended listener failed", exc_info=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.sweep()
            except Exception:  # the loop must survive anything; the next sweep retries
                log.exception("video sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)


def _credits(task: Task) -> int | None:
    return None if task.cost is None else math.ceil(task.cost.credits)


def _used_seconds(video: Video, measured: float | None, credits: int | None) -> int:
    """The real length when measured, else Runway's credits in seconds, else the estimate;
    nothing for a refunded video."""
    if credits == 0:
        return 0
    if measured is not None:
        return max(1, math.ceil(measured))
    if credits is not None:
        return credits * catalog.VIDEO_SECONDS_PER_CREDIT
    return video.estimate_seconds
