"""`python -m bot.storage.copy`: move the bot's SQLite database into an empty PostgreSQL one.

    python -m bot.storage.copy                      # DATABASE_PATH -> DATABASE_URL
    python -m bot.storage.copy --from data/bot.db   # the target still from DATABASE_URL

The source is `--from` or DATABASE_PATH; the target is DATABASE_URL (the environment or
`.env`, as the bot reads them), or `--to`; a URL on the command line shows in `ps`, so prefer
the environment, or a URL without its password and PGPASSWORD or ~/.pgpass. The password is
never printed. Exit status: 0 copied and checked; 2 refused (the message says why; nothing
was written); 1 anything else (the target keeps no row of a failed copy: run it again).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.services.processes import STALE_SECONDS
from bot.storage.copy.checks import MismatchError
from bot.storage.copy.transfer import CopyError, copy_database
from bot.storage.database import is_postgres_url
from bot.storage.errors import DatabaseUnavailableError, SchemaTooNewError, StorageError
from bot.storage.location import DatabaseLocation

RERUN = "The target keeps nothing of this attempt: fix the cause and run the command again."


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    location = DatabaseLocation()
    source: Path = args.source or location.database_path
    target: str | None = args.target or location.database_url
    if not target or not is_postgres_url(target):
        print(  # noqa: T201
            "Refused: give the PostgreSQL database to copy into as DATABASE_URL (or --to), "
            "a postgresql:// URL. Nothing was copied.",
            file=sys.stderr,
        )
        return 2
    try:
        report = copy_database(source, target, alive_within=STALE_SECONDS, progress=print)
    except (CopyError, SchemaTooNewError, DatabaseUnavailableError) as refused:
        print(f"Refused: {refused}", file=sys.stderr)  # noqa: T201
        return 2
    except MismatchError as mismatch:
        print(f"Failed: {mismatch}. {RERUN}", file=sys.stderr)  # noqa: T201
        return 1
    except StorageError as error:
        print(f"Failed: {error}. {RERUN}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        print(f"Interrupted. {RERUN}", file=sys.stderr)  # noqa: T201
        return 130
    print(report.describe())  # noqa: T201
    print("Next: set DATABASE_URL for the bot and start it.")  # noqa: T201
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.storage.copy",
        description=(
            "Copy the bot's SQLite database into an empty PostgreSQL database, in one "
            "transaction, and check the copy. Stop the bot first."
        ),
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="FILE",
        help="the SQLite database (default: DATABASE_PATH, data/bot.db)",
    )
    parser.add_argument(
        "--to",
        dest="target",
        metavar="URL",
        help="the PostgreSQL database (default: DATABASE_URL; prefer it, a URL here shows in ps)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
