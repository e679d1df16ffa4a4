"""Avatar video tasks: PENDING, maybe THROTTLED, RUNNING with progress, then an outcome.

Like everything in the sandbox, a task's status is derived from its timestamps and the
clock whenever it is asked for, so a test advances time instead of waiting. How long each
stage lasts is read from the config when the task is created.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from uuid import uuid4

from bot.runway import catalog
from bot.runway.sandbox.clock import Clock
from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.errors import SandboxError
from bot.runway.sandbox.inputs import AvatarRef, VideoInput
from bot.runway.sandbox.records import FAIL_MARKER_BYTES, FAIL_MARKER_TEXT

WORDS_PER_SECOND: Final = 2.5
"""How fast the emulated voice speaks a script (150 words a minute)."""


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    THROTTLED = "THROTTLED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


LIVE_TASK_STATUSES: Final = frozenset(
    {TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING}
)


@dataclass(frozen=True, slots=True)
class TaskFailure:
    failure: str
    code: str


FLAGGED_TEXT: Final = TaskFailure(
    "The provided text was flagged by content moderation.", "SAFETY.INPUT.TEXT"
)
FLAGGED_AUDIO: Final = TaskFailure(
    "The provided audio was flagged by content moderation.", "SAFETY.INPUT.AUDIO"
)
UNREADABLE_AUDIO: Final = TaskFailure("The provided audio could not be decoded.", "INPUT.AUDIO")
SERVER_TASK_FAILURE: Final = TaskFailure(
    "An unexpected error occurred while generating the video.", "INTERNAL"
)


@dataclass(slots=True)
class TaskRecord:
    id: str
    created_at: datetime
    queued_until: datetime
    throttled_until: datetime
    done_at: datetime
    avatar: AvatarRef
    seconds: float
    """How long the finished video lasts: the recording's length, or the script spoken."""
    image: str | None
    """The avatar's reference image as Runway got it (a data: URI shows in the video)."""
    audio: bytes | None = None
    failure: TaskFailure | None = None
    cancelled: bool = False
    deleted: bool = False
    clip: bytes | None = field(default=None, repr=False)

    @property
    def credits(self) -> int:
        return max(1, math.ceil(self.seconds / catalog.VIDEO_SECONDS_PER_CREDIT))

    def status(self, now: datetime) -> TaskStatus:
        if self.cancelled:
            return TaskStatus.CANCELLED
        if now < self.queued_until:
            return TaskStatus.PENDING
        if now < self.throttled_until:
            return TaskStatus.THROTTLED
        if now < self.done_at:
            return TaskStatus.RUNNING
        return TaskStatus.FAILED if self.failure is not None else TaskStatus.SUCCEEDED

    def progress(self, now: datetime) -> float:
        span = (self.done_at - self.throttled_until).total_seconds()
        done = (now - self.throttled_until).total_seconds()
        return 0.0 if span <= 0 else round(min(1.0, max(0.0, done / span)), 3)

    def cost(self, now: datetime) -> int:
        """Final credits: the video's price when it succeeded; failures are refunded."""
        return self.credits if self.status(now) is TaskStatus.SUCCEEDED else 0


class TaskBook:
    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._tasks: dict[str, TaskRecord] = {}

    def clear(self) -> None:
        self._tasks.clear()

    def create(
        self, spec: VideoInput, *, image: str | None, audio_seconds: float | None
    ) -> TaskRecord:
        """A new task; `audio_seconds` is the recording's decoded length (None: unreadable)."""
        config = self._config
        now = self._clock()
        queued = now + timedelta(seconds=config.task_pending_seconds)
        throttled = queued + timedelta(seconds=config.task_throttled_seconds)
        failure = None
        if spec.text is not None:
            seconds = max(1.0, len(spec.text.split()) / WORDS_PER_SECOND)
            if FAIL_MARKER_TEXT in spec.text.lower():
                failure = FLAGGED_TEXT
        else:
            seconds = audio_seconds or 1.0
            if spec.audio is not None and FAIL_MARKER_BYTES in spec.audio:
                failure = FLAGGED_AUDIO
            elif audio_seconds is None:
                failure = UNREADABLE_AUDIO
        task = TaskRecord(
            id=str(uuid4()),
            created_at=now,
            queued_until=queued,
            throttled_until=throttled,
            done_at=throttled + timedelta(seconds=config.task_render_seconds),
            avatar=spec.avatar,
            seconds=round(seconds, 3),
            image=image,
            audio=spec.audio,
            failure=failure,
        )
        self._tasks[task.id] = task
        return task

    def task(self, task_id: str) -> TaskRecord:
        """A task that exists; cancelled ones are still shown (with their status)."""
        task = self._tasks.get(task_id)
        if task is None or task.deleted:
            raise SandboxError(404, "Task not found.")
        return task

    def cancel(self, task_id: str) -> None:
        """DELETE: a task in progress is cancelled; a finished one is deleted; one already
        cancelled or deleted is a 404 (which Runway says is safe to ignore)."""
        task = self.task(task_id)
        status = task.status(self._clock())
        if status in LIVE_TASK_STATUSES:
            task.cancelled = True
        elif status is TaskStatus.CANCELLED:
            raise SandboxError(404, "Task not found.")
        else:
            task.deleted = True
            task.clip = None

    def fail(self, task_id: str, failure: TaskFailure) -> None:
        """Make a task in progress fail now (a test's control)."""
        task = self.task(task_id)
        if task.status(self._clock()) not in LIVE_TASK_STATUSES:
            raise SandboxError(409, f"The task is {task.status(self._clock())}.")
        task.failure = failure
        task.done_at = min(task.done_at, self._clock())
        task.queued_until = min(task.queued_until, task.done_at)
        task.throttled_until = min(task.throttled_until, task.done_at)

    def records(self) -> list[TaskRecord]:
        return list(self._tasks.values())
