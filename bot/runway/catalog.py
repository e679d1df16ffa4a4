"""Fixed facts about Runway's Characters API that both the client and the sandbox rely on.

Kept in one place so the emulator and the client can never disagree about a limit.
"""

from __future__ import annotations

from typing import Final

API_VERSION: Final = "2024-11-06"
SESSION_MODEL: Final = "gwm1_avatars"

VOICE_PRESETS: Final[tuple[str, ...]] = (
    "victoria", "vincent", "clara", "drew", "skye", "max", "morgan", "felix", "mia", "marcus",
    "summer", "ruby", "aurora", "jasper", "leo", "adrian", "nina", "emma", "blake", "david",
    "maya", "nathan", "sam", "georgia", "petra", "adam", "zach", "violet", "roman", "luna",
)  # fmt: skip

AVATAR_PRESETS: Final[tuple[str, ...]] = (
    "game-character", "music-superstar", "game-character-man", "cat-character", "influencer",
    "tennis-coach", "human-resource", "fashion-designer", "cooking-teacher",
)  # fmt: skip

# Production field limits (runway-openapi.json).
AVATAR_NAME_MAX: Final = 50
PERSONALITY_MAX: Final = 10_000
START_SCRIPT_MAX: Final = 2_000
REFERENCE_HTTPS_MAX: Final = 2_048
REFERENCE_RUNWAY_URI_MAX: Final = 5_000
REFERENCE_DATA_URI_MAX: Final = 5_242_880
REFERENCE_MIN: Final = 13
DOCUMENT_IDS_MAX: Final = 50
DOCUMENT_NAME_MAX: Final = 255
DOCUMENT_CONTENT_MAX: Final = 200_000
LIST_LIMIT_MAX: Final = 100
CURSOR_MAX: Final = 1_000
USAGE_RANGE_DAYS_MAX: Final = 90

# Session length in each dialect.
PRODUCTION_MAX_DURATION_MIN: Final = 10
PRODUCTION_MAX_DURATION_MAX: Final = 1_800
PRODUCTION_MAX_DURATION_DEFAULT: Final = 300
SEED_MAX_SESSION_SECONDS: Final = 300

# Knowledge per avatar (Runway's guides; the same in both dialects).
KNOWLEDGE_TOKENS_PER_AVATAR: Final = 50_000

# Avatar videos (production only): `POST /v1/avatar_videos`, followed with `GET /v1/tasks/{id}`.
VIDEO_TEXT_MAX: Final = 5_000
AUDIO_HTTPS_MAX: Final = 2_048
AUDIO_RUNWAY_URI_MAX: Final = 5_000
AUDIO_DATA_URI_MAX: Final = 16_777_216
"""The whole `data:audio/...;base64,` URI, in characters: about 12 MB of audio once encoded."""
AUDIO_MIN: Final = 13
VIDEO_SECONDS_PER_CREDIT: Final = 3
"""How the bot turns a task's `cost` (whole credits) into seconds of video when it has not
measured the video itself: Runway prices avatar output like its live calls, about 2 credits
per 6 s (reference README), so a credit buys 3 s. The sandbox charges at the same rate."""
