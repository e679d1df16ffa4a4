"""Reconciling avatar video requests (the `video` kind of intent).

Runway lists no tasks, so a request whose answer was lost cannot be found there: once its
grace has passed it is closed as UNRESOLVED, its reservation released (it costs the member
nothing in the bot's books) and admins see it reported in `/about`. A task whose id the bot
recorded before a crash is simply adopted: the video tracker follows it from the database.
"""

from __future__ import annotations

from bot.services.billable import IntentKind
from bot.services.reconcile_kinds import Listing, Resolution
from bot.services.video_tracker import VideoTracker
from bot.storage.intents import Intent, IntentState
from bot.storage.videos import VideoEnd, VideoRepository


class VideoHandler:
    kind = IntentKind.VIDEO

    def __init__(self, videos: VideoRepository, tracker: VideoTracker) -> None:
        self._videos = videos
        self._tracker = tracker

    def can_list(self) -> bool:
        return False  # Runway's API has no listing of tasks

    async def own_runway_id(self, intent: Intent) -> str | None:
        if intent.record_id is None:
            return None
        video = await self._videos.by_id(intent.record_id)
        return None if video is None else video.runway_id

    async def listed(self, intent: Intent) -> Listing:
        return Listing([], [])

    async def found(self, intent: Intent, runway_id: str) -> Resolution:
        raise AssertionError("tasks are never listed, so never found")

    async def absent(self, intent: Intent) -> Resolution:
        raise AssertionError("tasks are never listed, so never proven absent")

    async def unresolvable(self, intent: Intent) -> Resolution:
        if intent.record_id is not None:
            video = await self._videos.by_id(intent.record_id)
            if video is not None:
                await self._tracker.end(
                    video, VideoEnd.ABANDONED, failure="Runway's answer was lost"
                )
        return Resolution(
            IntentState.UNRESOLVED,
            f"video of {intent.name!r}: Runway's answer was lost and Runway cannot list its "
            "tasks, so whether it rendered is unknown; the reservation was released",
            f"The bot lost Runway's answer about your video of **{intent.name}**, and Runway "
            "has no way to list videos, so it cannot tell whether it is being made. Nothing was "
            "charged to you; ask again with `/avatar say`. An admin can see this in `/about`.",
        )
