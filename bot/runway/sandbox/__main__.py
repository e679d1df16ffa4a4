"""`python -m bot.runway.sandbox`: run the emulator alone until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

from bot.runway.sandbox.config import SandboxConfig
from bot.runway.sandbox.sandbox import Sandbox
from bot.settings import Dialect


def main(argv: Sequence[str] | None = None) -> None:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m bot.runway.sandbox",
        description="Emulate Runway's Characters API in memory. Nothing is real.",
    )
    parser.add_argument("--dialect", choices=[d.value for d in Dialect], default="production")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--api-key", default="sandbox", help="the key clients must send")
    parser.add_argument(
        "--avatar-processing-seconds", type=float, default=defaults.avatar_processing_seconds
    )
    parser.add_argument(
        "--session-ready-seconds", type=float, default=defaults.session_ready_seconds
    )
    parser.add_argument("--max-concurrent-sessions", type=int, default=None)
    parser.add_argument("--livekit-url", default=defaults.livekit_url)
    args = parser.parse_args(argv)
    config = SandboxConfig(
        avatar_processing_seconds=args.avatar_processing_seconds,
        session_ready_seconds=args.session_ready_seconds,
        max_concurrent_sessions=args.max_concurrent_sessions,
        livekit_url=args.livekit_url,
    )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sandbox = Sandbox(args.dialect, api_key=args.api_key, config=config)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sandbox, args.host, args.port))


async def _serve(sandbox: Sandbox, host: str, port: int) -> None:
    async with sandbox.serve(host, port, access_log=True):
        sys.stdout.write(
            f"Runway sandbox ({sandbox.dialect} dialect) at {sandbox.base_url}; "
            f"API key {sandbox.api_key!r}. Nothing is real. Ctrl+C stops it.\n"
        )
        sys.stdout.flush()
        await asyncio.Event().wait()


if __name__ == "__main__":
    main()
