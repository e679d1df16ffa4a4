"""Where Discord's OpenAPI description lives, if it is here at all.

The reference folder sits next to the repository (`<repo>/../shared/reference`) on the
machines this project is built on, and may be absent on a fresh clone elsewhere; the
honesty checks then skip instead of failing. `REFERENCE_DIR` overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

DISCORD_OPENAPI_FILE = "discord-openapi.json"
REPO_ROOT = Path(__file__).resolve().parents[2]


def reference_dir() -> Path | None:
    """The reference folder, or None when it is not on this machine.

    Defers to the project's shared finder (`tests/support/reference.py`) when it exists,
    so every test agrees on one location.
    """
    try:
        from tests.support.reference import reference_dir as shared_finder  # noqa: PLC0415
    except ImportError:
        pass
    else:
        return shared_finder()
    override = os.environ.get("REFERENCE_DIR")
    candidate = Path(override) if override else REPO_ROOT.parent / "shared" / "reference"
    return candidate if candidate.is_dir() else None


def discord_openapi_path() -> Path | None:
    """Path of Discord's OpenAPI description, or None when it is unavailable."""
    folder = reference_dir()
    if folder is None:
        return None
    path = folder / DISCORD_OPENAPI_FILE
    return path if path.is_file() else None
