"""How the emulated Runway account behaves: its timings, limits and LiveKit address."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SandboxConfig:
    """Timings and limits of the emulated account.

    The defaults are paced like a real account so that an admin trying the bot in sandbox
    mode sees the same waits and states as in production; tests pass much shorter timings.
    The sandbox reads these on every request, so a test may change one on a running
    sandbox (say, lower `max_concurrent_sessions`) and the next request obeys it.
    """

    avatar_processing_seconds: float = 5.0
    """How long a new reference image stays PROCESSING before READY (or FAILED)."""
    session_ready_seconds: float = 2.0
    """How long a new session stays NOT_READY before it offers its session key."""
    session_ready_ttl_seconds: float = 60.0
    """How long a READY session waits to be consumed before it FAILS as expired."""
    enforced_max_seconds: int = 300
    """Runway ends calls at about this length even when a longer maxDuration was asked."""
    max_concurrent_sessions: int | None = None
    """Live sessions (not ready, ready or running) the organisation may hold; None: no limit."""
    livekit_url: str = "wss://sandbox.livekit.invalid"
    """The LiveKit server address handed out with session credentials."""
    task_pending_seconds: float = 2.0
    """How long a new avatar video task stays PENDING."""
    task_throttled_seconds: float = 0.0
    """How long it then waits THROTTLED (Runway's queue when the account is busy); 0: never."""
    task_render_seconds: float = 8.0
    """How long it is RUNNING, its progress going from 0 to 1, before it SUCCEEDS (or FAILS)."""
    output_ttl_seconds: float = 86_400.0
    """How long an output link works; asking for the task again gives a fresh one."""
    video_padding_bytes: int = 0
    """Extra bytes (an MP4 `free` box, which players skip) added to each video, to try a
    file larger than a Discord server's upload limit."""
