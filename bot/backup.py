"""`python -m bot.backup`: back up, check and restore the bot's SQLite database.

    python -m bot.backup create backups/bot-2026-05-01.db   # safe while the bot runs
    python -m bot.backup verify backups/bot-2026-05-01.db
    python -m bot.backup restore backups/bot-2026-05-01.db  # the bot must be stopped

The database is DATABASE_PATH (from the environment or `.env`, as the bot reads it) unless
`--database` names another. A deployment on PostgreSQL (DATABASE_URL) is backed up with
`pg_dump` instead; the command says so. Exit status: 0 done, 2 refused (the message says
why and what to do; nothing was changed), 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.services.processes import STALE_SECONDS
from bot.storage.backup import BackupError, create_backup, restore_backup, verify
from bot.storage.errors import SchemaTooNewError
from bot.storage.location import DatabaseLocation

POSTGRES_SCHEMES = ("postgres://", "postgresql://", "postgresql+")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    location = DatabaseLocation()
    if location.database_url and location.database_url.startswith(POSTGRES_SCHEMES):
        print(  # noqa: T201
            "DATABASE_URL is set: this bot keeps its data in PostgreSQL, which this command "
            "does not back up. Use pg_dump and pg_restore (see 'Backups' in the README).",
            file=sys.stderr,
        )
        return 2
    database: Path = args.database or location.database_path
    try:
        if args.command == "create":
            made = create_backup(database, args.file)
            print(f"Backed up {database} to {made.describe()}.")  # noqa: T201
        elif args.command == "verify":
            print(f"Intact: {verify(args.file).describe()}.")  # noqa: T201
        else:
            restored, kept = restore_backup(args.file, database, alive_within=STALE_SECONDS)
            was = f" The database it replaced is kept as {kept}." if kept else ""
            print(f"Restored {restored.describe()} from {args.file}.{was}")  # noqa: T201
    except (BackupError, SchemaTooNewError) as refused:
        print(f"Refused: {refused}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database", type=Path, help="the database file (default: DATABASE_PATH, data/bot.db)"
    )
    parser = argparse.ArgumentParser(
        prog="python -m bot.backup",
        description="Back up, check and restore the bot's SQLite database.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, what, file_help in (
        ("create", "copy the database to FILE; safe while the bot runs", "must not exist yet"),
        ("verify", "check that FILE is an intact backup of this bot", "a backup"),
        ("restore", "replace the database with FILE; the bot must be stopped", "a backup"),
    ):
        command = commands.add_parser(name, help=what, description=what, parents=[common])
        command.add_argument("file", type=Path, metavar="FILE", help=file_help)
    return parser


if __name__ == "__main__":
    sys.exit(main())
