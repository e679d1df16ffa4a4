"""Point discord.py at another Discord: the one switch that lets tests run the real bot.

End-to-end tests and benchmarks start the unchanged bot process against a fake Discord
on loopback (REST and gateway websocket in one aiohttp server). discord.py has no public
option for its API address, so the composition root calls `use_discord_api_base` when the
`DISCORD_API_BASE_URL` setting is present, before the client logs in. Nothing else in the
bot knows whether Discord is real; in production the setting is absent and this module
is never called.
"""

from __future__ import annotations

import discord.http
import yarl
from discord.gateway import DiscordWebSocket

API_VERSION_PATH = "/api/v10"
GATEWAY_PATH = "/gateway"


def use_discord_api_base(base_url: str) -> None:
    """Send discord.py's REST calls and gateway connection to `base_url`.

    `base_url` is the server root (``http://127.0.0.1:5000``) or already ends in
    ``/api/v10``. REST goes to ``<root>/api/v10``: `Route.BASE` is read each time a route
    is built, and interaction callbacks and followup webhooks are built from `Route` too.
    The gateway goes to ``ws://<root>/gateway`` (``wss`` for an https root): the
    auto-sharded client connects there when SHARD_COUNT is set, and otherwise to the
    address ``GET /gateway/bot`` answers (a REST call, so the fake's own). The websocket's
    resume address comes from READY, so a fake Discord controls that one itself.
    """
    root = yarl.URL(base_url.rstrip("/"))
    if not root.is_absolute() or root.scheme not in {"http", "https"}:
        raise ValueError(f"DISCORD_API_BASE_URL must be an http(s) URL, got {base_url!r}")
    path = root.path.rstrip("/")
    if path.endswith(API_VERSION_PATH):
        path = path[: -len(API_VERSION_PATH)]
    root = root.with_path(path or "/", encoded=False).with_query(None).with_fragment(None)
    prefix = str(root).rstrip("/")

    discord.http.Route.BASE = prefix + API_VERSION_PATH
    ws_scheme = "wss" if root.scheme == "https" else "ws"
    DiscordWebSocket.DEFAULT_GATEWAY = root.with_scheme(ws_scheme).with_path(
        path + GATEWAY_PATH, encoded=False
    )
