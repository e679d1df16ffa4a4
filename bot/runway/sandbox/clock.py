"""Wall-clock time that tests can move forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The current time in UTC, plus however far it has been advanced.

    Every state in the sandbox (avatar processing, session readiness and expiry, call
    length) is derived from timestamps against this clock rather than kept up to date by
    background tasks, so advancing it moves the whole emulated account forward at once and
    tests never need to sleep. Times are cut to milliseconds, the precision Runway answers
    with, so that what is stored is exactly what is rendered.
    """

    def __init__(self) -> None:
        self._offset = timedelta()

    def __call__(self) -> datetime:
        now = datetime.now(UTC) + self._offset
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def advance(self, seconds: float) -> None:
        """Move time forward; it never moves back, as nothing in Runway's world would."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += timedelta(seconds=seconds)
