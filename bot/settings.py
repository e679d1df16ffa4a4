"""Configuration from the environment and `.env`, validated once at start-up.

Everything the bot needs to know about its surroundings lives here so that a bad
deployment fails at once with a message naming the variable, instead of half-way
through a member's command.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import unquote, urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.logging_setup import LogFormat
from bot.sharding import SHARD_IDS_EXAMPLES, check_shard_ids_exist, parse_shard_ids

DEFAULT_RUNWAY_BASE_URL = "https://api.dev.runwayml.com"
MIN_METRICS_TOKEN_LENGTH = 16
MAX_RUNWAY_TIER_SESSIONS = 20


class Dialect(StrEnum):
    """Which description of Runway's API the client speaks."""

    PRODUCTION = "production"
    SEED = "seed"


class ProcessRole(StrEnum):
    """What a process of the bot does (BOT_ROLE)."""

    ALL = "all"
    """The gateway, the tracker, the reconciler and the join pages: `python -m bot`."""
    WEB = "web"
    """Join pages, the picture, health and metrics, without a gateway."""


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Settings(BaseSettings):
    """The bot's settings. Field docs double as the text of `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `NAME=` (as in .env.example) means "not set", not "set to nothing".
        env_ignore_empty=True,
    )

    bot_role: ProcessRole = Field(
        default=ProcessRole.ALL,
        description="all: the Discord gateway, the session tracker and the join pages (one "
        "process does it all); web: join pages, health and metrics only, no gateway, for "
        "running several behind a load balancer (needs DATABASE_URL).",
    )
    discord_token: SecretStr | None = Field(
        default=None,
        description="The bot token from the Discord developer portal (Bot > Reset Token); "
        "not needed when BOT_ROLE=web.",
    )
    runwayml_api_secret: SecretStr | None = Field(
        default=None,
        description="Your Runway API key (dev.runwayml.com > API keys).",
    )
    runway_sandbox: bool = Field(
        default=False,
        description="true: use the built-in Runway emulator; nothing is real, no credits spent.",
    )
    runway_api_dialect: Dialect = Field(
        default=Dialect.PRODUCTION,
        description="Which Runway API to speak: 'production' (Runway's API) or 'seed'.",
    )
    runway_base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(DEFAULT_RUNWAY_BASE_URL),
        description="Where Runway's API lives; ignored in sandbox mode.",
    )
    database_path: Path = Field(
        default=Path("data/bot.db"),
        description="The SQLite database file; its folder is created when missing. "
        "Ignored when DATABASE_URL is set.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="A PostgreSQL database, e.g. postgresql://bot:password@db.example.org/bot, "
        "shared by several processes (unset: the SQLite file DATABASE_PATH).",
    )
    database_pool_size: Annotated[int, Field(ge=2, le=100)] = Field(
        default=5,
        description="PostgreSQL connections this process keeps: one commits writes, the "
        "others serve reads.",
    )
    public_url: AnyHttpUrl | None = Field(
        default=None,
        description="The address members open join links at, e.g. https://bot.example.org.",
    )
    web_host: str = Field(default="0.0.0.0", description="Address the join-page server binds.")  # noqa: S104
    web_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=8080, description="Port the join-page server listens on."
    )
    livekit_origins: str = Field(
        default="wss://*.livekit.cloud",
        description="Comma-separated LiveKit servers the join page may connect to "
        "(its Content-Security-Policy allows no others).",
    )
    trust_forwarded_for: bool = Field(
        default=False,
        description="true when a reverse proxy on this machine sets X-Forwarded-For, so the "
        "join pages' rate limit sees members' own addresses.",
    )
    dev_guild_id: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="A server id: slash commands sync there instantly, instead of globally.",
    )
    discord_api_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Testing only: send Discord REST and gateway traffic to this address "
        "(a fake Discord) instead of discord.com.",
    )
    session_max_minutes: Annotated[int, Field(ge=1, le=30)] = Field(
        default=5,
        description="The longest live session a member may start, in minutes (Runway: 30 at most).",
    )
    runway_create_timeout_seconds: Annotated[int, Field(ge=5, le=600)] = Field(
        default=120,
        description="How long to wait for Runway to answer a create it bills (avatar, "
        "document, session); members see its progress meanwhile.",
    )
    video_poll_seconds: Annotated[float, Field(ge=0.2, le=60)] = Field(
        default=5.0,
        description="How often the bot asks Runway how the avatar videos it makes are coming "
        "along (Runway updates them about every 5 s).",
    )
    video_render_timeout_seconds: Annotated[int, Field(ge=5, le=7200)] = Field(
        default=1200,
        description="An avatar video Runway has not finished this long after taking it is "
        "cancelled there, and costs nothing.",
    )
    runway_media_ca_file: Path | None = Field(
        default=None,
        description="Testing only: a PEM certificate whose https servers on this machine "
        "(a Runway sandbox run apart from the bot) the bot may download videos from.",
    )
    max_live_sessions_per_server: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=3, description="Live sessions one server may have at once (0: none allowed)."
    )
    runway_max_live_sessions: int = Field(
        default=5,
        description="Live sessions your Runway account allows at once, across every server "
        "(1 to 20, by your Runway tier); members wait in line for a free one.",
    )
    shard_count: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="How many gateway shards all of this bot's processes split between them "
        "(unset: the number Discord recommends).",
    )
    shard_ids: str | None = Field(
        default=None,
        description=f"The shards this process runs, e.g. {SHARD_IDS_EXAMPLES}; needs "
        "SHARD_COUNT (unset: every shard).",
    )
    log_level: LogLevel = Field(default=LogLevel.INFO, description="DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field(
        default=LogFormat.TEXT,
        description="text (for a terminal) or json (one JSON object per line, for a log store).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="A bearer token Prometheus must send to read /metrics (unset, and "
        "METRICS_PORT unset: no metrics are served).",
    )
    metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        default=None,
        description="Serve /metrics on this port of its own instead of the join pages' port "
        "(unset: on WEB_PORT, and only with METRICS_TOKEN).",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the METRICS_PORT listener binds (0.0.0.0: reachable from other "
        "machines or containers).",
    )

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MIN_METRICS_TOKEN_LENGTH} characters (e.g. the output of "
                "`openssl rand -hex 32`)"
            )
        return value

    @field_validator("metrics_port")
    @classmethod
    def _metrics_port_is_its_own(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value == info.data.get("web_port"):
            raise ValueError(
                "must differ from WEB_PORT (to serve metrics on the join pages' port, leave "
                "METRICS_PORT unset and set METRICS_TOKEN)"
            )
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids_fit_the_count(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Refuse ids this process could not run: malformed, named twice, or beyond
        SHARD_COUNT. (Overlap with another process's SHARD_IDS shows only at run time.)"""
        if value is None or not value.strip():
            return None
        ranges = parse_shard_ids(value)
        if "shard_count" not in info.data:
            return value  # SHARD_COUNT is wrong itself and reported on its own
        shard_count = info.data["shard_count"]
        if shard_count is None:
            raise ValueError("needs SHARD_COUNT as well, the number of shards all processes split")
        check_shard_ids_exist(ranges, shard_count)
        return value

    @field_validator("runway_max_live_sessions")
    @classmethod
    def _runway_tiers(cls, value: int) -> int:
        if not 1 <= value <= MAX_RUNWAY_TIER_SESSIONS:
            raise ValueError(
                f"must be 1 to {MAX_RUNWAY_TIER_SESSIONS}: Runway's tiers allow 1 to "
                f"{MAX_RUNWAY_TIER_SESSIONS} live sessions per account (see your plan in "
                f"Runway's developer portal); {value} is not one of them"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        """Only PostgreSQL is reached by URL; the value is never echoed (it holds a password)."""
        if value is None or not value.get_secret_value().strip():
            return None
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (for SQLite, set DATABASE_PATH)")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _need_key_or_sandbox(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Report settings that are required only outside sandbox mode, or only in one role,
        together with every other bad variable, so an operator fixes them all in one go."""
        missing = _required_outside_sandbox(data) + _required_by_role(data)
        try:
            settings = handler(data)
        except ValidationError as error:
            if not missing:
                raise
            details = [_init_details(item) for item in error.errors()]
            raise ValidationError.from_exception_data(cls.__name__, details + missing) from None
        if missing:
            raise ValidationError.from_exception_data(cls.__name__, missing)
        return settings

    @property
    def database_target(self) -> str | Path:
        """What `Database.open` opens: the PostgreSQL URL when given, else the SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.database_path

    @property
    def join_base_url(self) -> str:
        """Where join links point: PUBLIC_URL, or this machine's web port in sandbox mode."""
        if self.public_url is not None:
            return str(self.public_url).rstrip("/")
        host = "localhost" if self.web_host in ("0.0.0.0", "::") else self.web_host  # noqa: S104
        return f"http://{host}:{self.web_port}"

    @property
    def process_shard_ids(self) -> list[int] | None:
        """The shards SHARD_IDS gives this process; None: all of them (SHARD_COUNT's, or
        as many as Discord recommends)."""
        if self.shard_ids is None:
            return None
        return [shard for span in parse_shard_ids(self.shard_ids) for shard in span]

    @property
    def livekit_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.livekit_origins.split(",") if origin.strip()]

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level.value]

    @property
    def metrics_enabled(self) -> bool:
        """Metrics are served only when asked for: a token, or a port of their own."""
        return self.metrics_token is not None or self.metrics_port is not None

    def secret_values(self) -> list[str]:
        """Every secret among the settings, for the log redactor: the tokens and keys, and
        the password of any URL that carries one (a database URL), as written and decoded."""
        found: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
                value = value.get_secret_value()
            text = "" if value is None else str(value)
            if "://" in text and (password := urlsplit(text).password):
                found += [password, unquote(password)]
        return [value for value in found if value]


def _required_outside_sandbox(data: Any) -> list[InitErrorDetails]:
    if not isinstance(data, dict) or _truthy(data.get("runway_sandbox")):
        return []
    # A web process issues no join links, so it needs no PUBLIC_URL.
    needed = ["runwayml_api_secret"] if _role(data) == ProcessRole.WEB.value else []
    return [
        _problem(name, "missing_live", "missing (needed unless RUNWAY_SANDBOX=true)")
        for name in needed or ["runwayml_api_secret", "public_url"]
        if not data.get(name)
    ]


def _required_by_role(data: Any) -> list[InitErrorDetails]:
    """A bot process needs its Discord token. A web process needs the shared engine: it
    serves join codes a bot process issued and records what the page reports, which only a
    database every process reaches holds (the SQLite file serves one process); and a real
    Runway, since the sandbox lives inside one process and the web one could not see it."""
    if not isinstance(data, dict):
        return []
    role = _role(data)
    if role == ProcessRole.ALL.value and not data.get("discord_token"):
        return [_problem("discord_token", "missing_token", "missing (needed unless BOT_ROLE=web)")]
    if role != ProcessRole.WEB.value:
        return []  # a valid bot process, or a BOT_ROLE that is reported on its own
    problems: list[InitErrorDetails] = []
    if not str(data.get("database_url") or "").strip():
        problems.append(
            _problem(
                "database_url",
                "web_needs_postgres",
                "needed when BOT_ROLE=web: a web process serves the join codes bot processes "
                "issue, so it must share their PostgreSQL database (the SQLite file serves "
                "one process; without DATABASE_URL run BOT_ROLE=all, which serves join pages "
                "too)",
            )
        )
    if _truthy(data.get("runway_sandbox")):
        problems.append(
            _problem(
                "runway_sandbox",
                "web_no_sandbox",
                "cannot be true when BOT_ROLE=web: the sandbox lives inside one process, so a "
                "web process could not see the sessions the bot process created (point "
                "RUNWAY_BASE_URL and RUNWAYML_API_SECRET at Runway instead)",
            )
        )
    return problems


def _role(data: dict[str, Any]) -> str:
    return str(data.get("bot_role") or ProcessRole.ALL.value).strip().lower()


def _truthy(value: Any) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _problem(name: str, kind: str, message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=(name,), input=None)


def _init_details(item: ErrorDetails) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError(item["type"], item["msg"]),
        loc=item["loc"],
        input=item["input"],
    )


def describe_errors(error: ValidationError) -> str:
    """Turn pydantic's report into one short message an operator can act on.

    Input values are never echoed: a malformed token is still a secret.
    """
    lines = ["The bot cannot start: its settings are incomplete or wrong."]
    for item in error.errors(include_input=False, include_url=False):
        location = item.get("loc") or ()
        if location:
            name = str(location[0]).upper()
            hint = Settings.model_fields[str(location[0])].description or ""
            message = "missing" if item["type"] == "missing" else _plain(item["msg"])
            lines.append(f"  {name}: {message}. {hint}".rstrip())
        else:
            lines.append(f"  {_plain(item['msg'])}.")
    lines.append(
        "Set them in the environment or in a .env file (see .env.example), then start again."
    )
    return "\n".join(lines)


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")
