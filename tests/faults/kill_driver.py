"""The process the kill tests SIGKILL: one billable create, killed just before Runway is
called (its intent is written) or just after Runway answered (nothing recorded yet).

    python -m tests.faults.kill_driver DATABASE RUNWAY_URL DIALECT KIND before|after
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bot.runway.sandbox.sandbox import Sandbox
from bot.settings import Dialect
from tests.faults.conftest import running_bot
from tests.faults.steps import CLIENT_METHODS, act, prepare


class _Remote:
    """Just enough of a Sandbox for `running_bot`: where it answers and its dialect."""

    def __init__(self, base_url: str, dialect: Dialect) -> None:
        self.base_url = base_url
        self.dialect = dialect


async def main(database: Path, url: str, dialect: Dialect, kind: str, when: str) -> None:
    remote: Any = _Remote(url, dialect)
    sandbox: Sandbox = remote
    async with running_bot(sandbox, database) as bot:
        avatar = await prepare(kind, bot.services)
        method = CLIENT_METHODS[kind]
        create = getattr(bot.runway, method)

        async def dying(*args: Any, **kwargs: Any) -> Any:
            if when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            answer = await create(*args, **kwargs)
            print("runway answered", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
            return answer

        setattr(bot.runway, method, dying)

        async def quiet(_: str) -> None:
            return None

        print("calling", flush=True)
        await act(kind, bot.services, avatar, quiet)


if __name__ == "__main__":
    path, runway_url, dialect_name, kind_name, moment = sys.argv[1:6]
    asyncio.run(main(Path(path), runway_url, Dialect(dialect_name), kind_name, moment))
