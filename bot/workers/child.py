"""`python -m bot.workers.child`: run one job from the parent and exit.

stdin: a 4-byte big-endian length, that many bytes of a pickled `(job, args)`, then the raw
payload (e.g. an image) to the end. stdout: a pickled `("ok", result)` or `("refused",
UserFacingError)`. Anything else goes to stderr, which the parent's log shows. Only the jobs
in `JOBS` can run; the pickles come only from the bot itself.
"""

from __future__ import annotations

import importlib
import pickle
import sys
from collections.abc import Callable
from typing import Any, Final

from bot.errors import UserFacingError

JOBS: Final = {
    "image": "bot.services.images:prepare",
    "picture": "bot.services.images:picture_of",
    "tokens": "bot.services.token_count:count_tokens",
    "audio": "bot.services.audio:check_audio",
    "clip": "bot.services.audio:clip_seconds",
}


def resolve(job: str) -> Callable[..., Any]:
    module, _, name = JOBS[job].partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def main() -> int:
    stdin = sys.stdin.buffer
    size = int.from_bytes(stdin.read(4), "big")
    job, args = pickle.loads(stdin.read(size))  # noqa: S301 - written by our own parent
    payload = stdin.read()
    try:
        outcome: tuple[str, Any] = ("ok", resolve(job)(payload, *args))
    except UserFacingError as refusal:
        outcome = ("refused", refusal)
    sys.stdout.buffer.write(pickle.dumps(outcome))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
