"""Where the bot's database is, read as the bot reads it (the environment, then `.env`), for
the commands that need nothing else of its settings: `python -m bot.backup` and
`python -m bot.storage.copy`, which must run without a Discord token or a Runway key."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseLocation(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )
    database_path: Path = Field(default=Path("data/bot.db"))
    database_url: str | None = None
