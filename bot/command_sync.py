"""Sync application commands only when their definitions changed.

Discord rate-limits command syncs hard (and a global sync takes a while to reach every
client), so each start compares a hash of the definitions with the one stored after the
last successful sync and leaves Discord alone when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Protocol

import discord
from discord import app_commands

log = logging.getLogger(__name__)


class StateStore(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


def definitions_hash(tree: app_commands.CommandTree[Any], guild: discord.Object | None) -> str:
    """A stable digest of what a sync would send for this scope."""
    payload = [command.to_dict(tree) for command in tree.get_commands(guild=guild)]
    payload.sort(key=lambda item: (item.get("type", 1), item["name"]))
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def sync_if_changed(
    tree: app_commands.CommandTree[Any],
    store: StateStore,
    *,
    application_id: int,
    dev_guild_id: int | None,
) -> bool:
    """Sync to the dev guild when one is set (instant), otherwise globally.

    Returns whether a sync was sent.
    """
    guild = discord.Object(id=dev_guild_id) if dev_guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    scope = f"guild:{dev_guild_id}" if dev_guild_id else "global"
    key = f"commands_hash:{application_id}:{scope}"
    digest = definitions_hash(tree, guild)
    if await store.get(key) == digest:
        log.info("application commands unchanged (%s); not syncing", scope)
        return False
    synced = await tree.sync(guild=guild)
    await store.set(key, digest)
    log.info("synced %d application commands (%s)", len(synced), scope)
    return True
