"""`python -m bot` refuses bad settings with one clear message and exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import ProcessRole, Settings, describe_errors

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
        ("SHARD_COUNT", "0"),
        ("SHARD_IDS", "0-x"),
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


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings read in this process from exactly `env` (plus the sandbox minimum)."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in {"DISCORD_TOKEN": SECRET, "RUNWAY_SANDBOX": "true", **env}.items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"SHARD_IDS": "0-3"}, "SHARD_IDS: needs SHARD_COUNT as well"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2-5"}, "SHARD_IDS: shards 4-5 do not exist"),
        ({"SHARD_COUNT": "8", "SHARD_IDS": "0-3,2"}, "SHARD_IDS: shard 2 is named twice"),
        ({"SHARD_COUNT": "8", "SHARD_IDS": "0-3,3-5"}, "SHARD_IDS: shard 3 is named twice"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0 1"}, "SHARD_IDS: '0 1' is not a shard id"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3-1"}, "SHARD_IDS: the range '3-1' runs backwards"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT: Input should be greater than or equal to 1"),
        ({"SHARD_COUNT": "-2", "SHARD_IDS": "0"}, "SHARD_COUNT: Input should be greater"),
        ({"SHARD_COUNT": "four", "SHARD_IDS": "0-1"}, "SHARD_COUNT: Input should be a valid"),
    ],
)
def test_bad_shard_settings_are_explained(
    env: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_from(env, monkeypatch, tmp_path)
    report = describe_errors(caught.value).splitlines()
    assert [entry.strip() for entry in report[1:-1] if line in entry], report
    assert len(report) == 3, "one line per bad variable, none for SHARD_IDS when the count is bad"


@pytest.mark.parametrize(
    ("env", "count", "ids"),
    [
        ({}, None, None),
        ({"SHARD_COUNT": "", "SHARD_IDS": ""}, None, None),  # as .env.example leaves them
        ({"SHARD_COUNT": "4"}, 4, None),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2-3"}, 4, [2, 3]),
        ({"SHARD_COUNT": "16", "SHARD_IDS": "0-3, 8"}, 16, [0, 1, 2, 3, 8]),
    ],
)
def test_good_shard_settings_name_this_process_shards(
    env: dict[str, str],
    count: int | None,
    ids: list[int] | None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = settings_from(env, monkeypatch, tmp_path)
    assert (settings.shard_count, settings.process_shard_ids) == (count, ids)


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.fakediscord import free_port  # noqa: PLC0415 - only this test needs a port

    port = free_port()  # nothing listens there
    url = f"postgresql://bot:{SECRET}@127.0.0.1:{port}/bot"
    result = run_bot(
        {"DISCORD_TOKEN": "x", "RUNWAY_SANDBOX": "true", "DATABASE_URL": url}, tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "could not be reached" in lines[0]
    assert SECRET not in result.stderr + result.stdout


def test_a_database_url_that_is_not_postgres_is_refused(tmp_path: Path) -> None:
    result = run_bot(
        {
            "DISCORD_TOKEN": "x",
            "RUNWAY_SANDBOX": "true",
            "DATABASE_URL": f"mysql://u:{SECRET}@h/db",
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert "DATABASE_URL: must start with postgresql://" in result.stderr
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN: must be at least 16 characters"),
        ({"WEB_PORT": "8080", "METRICS_PORT": "8080"}, "METRICS_PORT: must differ from WEB_PORT"),
        ({"METRICS_PORT": "0"}, "METRICS_PORT: Input should be greater than or equal to 1"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT: Input should be 'text' or 'json'"),
    ],
)
def test_bad_metrics_and_log_settings_are_explained(
    env: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_from(env, monkeypatch, tmp_path)
    report = describe_errors(caught.value)
    assert line in report, report
    assert env.get("METRICS_TOKEN", "never echoed") not in report.replace("METRICS_TOKEN", "")


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, False),
        ({"METRICS_TOKEN": "", "METRICS_PORT": ""}, False),  # as .env.example leaves them
        ({"METRICS_TOKEN": "0123456789abcdef"}, True),
        ({"METRICS_PORT": "9100"}, True),
    ],
)
def test_metrics_are_off_unless_asked_for(
    env: dict[str, str], enabled: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert settings_from(env, monkeypatch, tmp_path).metrics_enabled is enabled


@pytest.mark.parametrize("value", ["0", "21", "-1", "many"])
def test_runway_max_live_sessions_must_be_one_of_runways_tiers(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_from({"RUNWAY_MAX_LIVE_SESSIONS": value}, monkeypatch, tmp_path)
    [line] = describe_errors(caught.value).splitlines()[1:-1]
    assert line.strip().startswith("RUNWAY_MAX_LIVE_SESSIONS:"), line
    if value != "many":
        assert "must be 1 to 20: Runway's tiers allow 1 to 20 live sessions" in line


def test_runway_max_live_sessions_defaults_to_five(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert settings_from({}, monkeypatch, tmp_path).runway_max_live_sessions == 5
    assert (
        settings_from(
            {"RUNWAY_MAX_LIVE_SESSIONS": "20"}, monkeypatch, tmp_path
        ).runway_max_live_sessions
        == 20
    )


def web_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings of a BOT_ROLE=web process read from exactly `env`."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in {"BOT_ROLE": "web", **env}.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_a_web_process_needs_no_discord_token_and_no_public_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = web_settings(
        {"DATABASE_URL": "postgresql://bot@db.example.org/bot", "RUNWAYML_API_SECRET": SECRET},
        monkeypatch,
        tmp_path,
    )
    assert settings.bot_role is ProcessRole.WEB
    assert settings.discord_token is None


@pytest.mark.parametrize(
    ("env", "lines"),
    [
        (
            {"RUNWAYML_API_SECRET": SECRET},
            ["DATABASE_URL: needed when BOT_ROLE=web: a web process serves the join codes"],
        ),
        (
            {"RUNWAY_SANDBOX": "true"},
            [
                "DATABASE_URL: needed when BOT_ROLE=web",
                "RUNWAY_SANDBOX: cannot be true when BOT_ROLE=web: the sandbox lives inside one",
            ],
        ),
        (
            {"DATABASE_URL": "postgresql://bot@db.example.org/bot"},
            ["RUNWAYML_API_SECRET: missing (needed unless RUNWAY_SANDBOX=true)"],
        ),
        ({"BOT_ROLE": "gateway", "RUNWAY_SANDBOX": "true"}, ["BOT_ROLE: Input should be 'all'"]),
    ],
)
def test_a_web_process_is_told_what_it_lacks(
    env: dict[str, str], lines: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as caught:
        web_settings(env, monkeypatch, tmp_path)
    report = describe_errors(caught.value).splitlines()
    for line in lines:
        assert [entry for entry in report if line in entry], report
    assert len(report) == len(lines) + 2, report


def test_a_bot_process_still_needs_its_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as caught:
        web_settings({"BOT_ROLE": "all", "RUNWAY_SANDBOX": "true"}, monkeypatch, tmp_path)
    report = describe_errors(caught.value)
    assert "DISCORD_TOKEN: missing (needed unless BOT_ROLE=web)" in report
