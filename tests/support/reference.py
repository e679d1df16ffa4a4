"""Where the shared reference files live, and a clean skip when they are absent.

The folder sits next to the repository (`<repo>/../shared/reference`) on the machines this
project is built on and may be missing on a fresh clone elsewhere; tests that need it skip
with a reason instead of failing. `REFERENCE_DIR` overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def reference_dir() -> Path | None:
    """The reference folder, or None when it is not on this machine."""
    override = os.environ.get("REFERENCE_DIR")
    folder = Path(override) if override else REPO_ROOT.parent / "shared" / "reference"
    return folder if folder.is_dir() else None


def reference_file(name: str) -> Path:
    """The path of one reference file; skips the calling test when it is unavailable."""
    folder = reference_dir()
    path = folder / name if folder is not None else None
    if path is None or not path.is_file():
        where = (
            folder or os.environ.get("REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference"
        )
        pytest.skip(
            f"reference file {name} not found in {where}; "
            "set REFERENCE_DIR to the folder holding the shared reference files"
        )
    return path


def has_reference_file(name: str) -> bool:
    folder = reference_dir()
    return folder is not None and (folder / name).is_file()
