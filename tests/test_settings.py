"""`python -m bot` refuses bad settings with one clear message and exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-very-secret-value-123"


def run_bot(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the real entry point in an empty folder, so no `.env` of the developer's leaks in."""
    clean = {key: value for key, value in os.environ.items() if not _is_setting(key)}
    clean["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _is_setting(name: str) -> bool:
    return name.lower() in Settings.model_fields


def test_no_settings_names_every_missing_variable(tmp_path: Path) -> None:
    result = run_bot({}, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for name in ("DISCORD_TOKEN", "RUNWAYML_API_SECRET", "PUBLIC_URL"):
        assert name in result.stderr
    assert ".env.example" in result.stderr


def test_sandbox_needs_only_the_token(tmp_path: Path) -> None:
    result = run_bot({"RUNWAY_SANDBOX": "true"}, tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr
    assert "RUNWAYML_API_SECRET" not in result.stderr
    assert "PUBLIC_URL" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_PORT", "eighty"),
        ("WEB_PORT", "70000"),
        ("RUNWAY_API_DIALECT", "beta"),
        ("RUNWAY_SANDBOX", "perhaps"),
        ("DEV_GUILD_ID", "-5"),
        ("PUBLIC_URL", "not a url"),
        ("RUNWAY_BASE_URL", "ftp://example.org"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_variable_is_named(tmp_path: Path, name: str, value: str) -> None:
    env = {
        "DISCORD_TOKEN": SECRET,
        "RUNWAYML_API_SECRET": SECRET,
        "PUBLIC_URL": "https://bot.example.org",
        name: value,
    }
    result = run_bot(env, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert re.search(rf"^\s+{name}:", result.stderr, re.MULTILINE), result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_secrets_never_printed_when_other_settings_are_bad(tmp_path: Path) -> None:
    result = run_bot({"DISCORD_TOKEN": SECRET, "RUNWAYML_API_SECRET": SECRET}, tmp_path)
    assert result.returncode == 2
    assert SECRET not in result.stderr + result.stdout


def test_env_example_documents_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", text, re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}
