"""The cluster's compose file and proxy config, checked offline (there is no Docker engine here).

The compose file is validated against the Compose Specification's JSON schema as
check-jsonschema ships it (`vendor.compose-spec`), then against our own rules: every service
has a health check, the bot processes run every shard exactly once, web processes run none,
start-up waits for health, data lives in named volumes, and no secret is written inline. The
Caddyfile is validated by Caddy itself (`caddy validate`, Debian's package; `.ci/run` installs
it) and its adapted JSON checked: only join paths are forwarded, to the web processes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Settings
from bot.sharding import parse_shard_ids

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
CADDYFILE = DEPLOY / "Caddyfile"
ENV_EXAMPLE = DEPLOY / ".env.example"
SECRET_NAMES = ("DISCORD_TOKEN", "RUNWAYML_API_SECRET", "METRICS_TOKEN", "POSTGRES_PASSWORD")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # resolves `<<:` merge keys
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def app_services() -> dict[str, dict[str, Any]]:
    """The services running this bot (a bot or web process)."""
    return {name: s for name, s in services().items() if "BOT_ROLE" in s.get("environment", {})}


def in_role(role: str) -> dict[str, dict[str, Any]]:
    """The environment of each bot (`all`) or web-only (`web`) process, by service name."""
    return {
        name: service["environment"]
        for name, service in app_services().items()
        if service["environment"]["BOT_ROLE"] == role
    }


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            *[str(path)],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = check_compose_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_mistake(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:", "    healthchek:", 1))
    result = check_compose_schema(broken)
    assert result.returncode != 0
    assert "healthchek" in result.stdout + result.stderr


def test_the_cluster_has_postgres_two_bots_two_web_processes_and_a_proxy() -> None:
    roles = {name: s["environment"]["BOT_ROLE"] for name, s in app_services().items()}
    assert sorted(roles.values()) == ["all", "all", "web", "web"]
    assert services()["postgres"]["image"].startswith("postgres:")
    assert services()["proxy"]["image"].startswith("caddy:")


def test_every_service_has_a_health_check_and_start_up_waits_for_health() -> None:
    for name, service in services().items():
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        assert not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for needed, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, (name, needed)
    assert "pg_isready" in " ".join(services()["postgres"]["healthcheck"]["test"])
    for name, service in app_services().items():
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), name
        assert "postgres" in service["depends_on"], name


def test_the_bot_processes_run_every_shard_exactly_once() -> None:
    bots = in_role("all")
    counts = {int(env["SHARD_COUNT"]) for env in bots.values()}
    assert len(counts) == 1, f"every bot process needs the same SHARD_COUNT: {counts}"
    (count,) = counts
    spans = [span for env in bots.values() for span in parse_shard_ids(env["SHARD_IDS"])]
    run = [shard for span in spans for shard in span]
    assert sorted(run) == list(range(count)), f"shards run: {sorted(run)} of {count}"
    for name, environment in in_role("web").items():
        assert not {"SHARD_COUNT", "SHARD_IDS"} & set(environment), name


def test_every_variable_given_to_the_bot_is_one_of_its_settings() -> None:
    known = {field.upper() for field in Settings.model_fields}
    for name, service in app_services().items():
        unknown = set(service["environment"]) - known
        assert not unknown, f"{name}: not settings of the bot: {unknown}"


def test_data_lives_in_named_volumes() -> None:
    declared = set(compose()["volumes"])
    used = set()
    for name, service in services().items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared
    assert "pgdata:/var/lib/postgresql/data" in services()["postgres"]["volumes"]


def test_secrets_come_only_from_the_env_file() -> None:
    for name, service in app_services().items():
        assert service["env_file"] == [".env"], name
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            text = str(value)
            if key in SECRET_NAMES:
                assert INTERPOLATION.fullmatch(text), f"{name}: {key} is written inline"
            if "://" in text and "@" in text:  # a URL with credentials
                password = text.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
                assert INTERPOLATION.fullmatch(password), f"{name}: {key} has a password inline"
    text = COMPOSE.read_text()
    for secret_name in ("DISCORD_TOKEN", "RUNWAYML_API_SECRET", "METRICS_TOKEN"):
        assert secret_name not in text, f"{secret_name} belongs in deploy/.env only"


def test_the_env_example_names_everything_the_file_needs() -> None:
    example = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    interpolated = set(INTERPOLATION.findall(COMPOSE.read_text()))
    assert interpolated <= example, interpolated - example
    assert {"DISCORD_TOKEN", "RUNWAYML_API_SECRET", "METRICS_TOKEN"} <= example
    assert ".env" in (REPO / ".gitignore").read_text().split()  # deploy/.env is never committed


def test_metrics_ports_are_published_on_loopback_only() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            if str(port).split(":")[-1].split("/")[0] == "9100":
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes metrics: {port}"


Caddy = Callable[[str], subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def caddy(tmp_path_factory: pytest.TempPathFactory) -> Caddy:
    """`caddy <command>` on the Caddyfile, with DOMAIN set and Caddy's own files kept in a
    scratch folder."""
    binary = shutil.which("caddy")
    if binary is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy; .ci/run does)")
    home = tmp_path_factory.mktemp("caddy-home")
    env = {
        **os.environ,
        "DOMAIN": "bot.example.org",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, command, "--adapter", "caddyfile", "--config", str(CADDYFILE)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    return run


def test_caddy_accepts_the_proxy_config(caddy: Caddy) -> None:
    result = caddy("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def test_the_proxy_forwards_only_join_paths_to_the_web_processes(caddy: Caddy) -> None:
    adapted = caddy("adapt")
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    server = next(iter(config["apps"]["http"]["servers"].values()))
    assert server["listen"] == [":443"]  # automatic HTTPS (and its http -> https redirect)
    (site,) = server["routes"]
    assert site["match"] == [{"host": ["bot.example.org"]}]
    proxies = list(_find(site, "handler", "reverse_proxy"))
    assert len(proxies) == 1, "one reverse_proxy, for the join paths only"
    web = [f"{name}:{environment['WEB_PORT']}" for name, environment in in_role("web").items()]
    assert sorted(u["dial"] for u in proxies[0]["upstreams"]) == sorted(web)
    assert proxies[0]["health_checks"]["active"]["uri"] == "/healthz"
    matchers = [matcher for found in _find_key(site, "match") for matcher in found]
    assert [matcher["path"] for matcher in matchers if "path" in matcher] == [
        ["/join/*", "/static/*"]
    ]
    assert "/metrics" not in json.dumps(config)
    assert "logs" not in server, "no access log: join paths carry one-time codes"


def _find(node: Any, key: str, value: str) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get(key) == value:
            found.append(node)
        for child in node.values():
            found += _find(child, key, value)
    elif isinstance(node, list):
        for child in node:
            found += _find(child, key, value)
    return found


def _find_key(node: Any, key: str) -> list[Any]:
    found = []
    if isinstance(node, dict):
        if key in node:
            found.append(node[key])
        for child in node.values():
            found += _find_key(child, key)
    elif isinstance(node, list):
        for child in node:
            found += _find_key(child, key)
    return found
