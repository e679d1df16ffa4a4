"""`python -m bot`: check settings, then run the bot until stopped.

Exit codes: 0 after a clean stop, 2 when settings are missing or wrong (the message
names every bad variable) or the database cannot be used (too new, or PostgreSQL
unreachable: one line naming its host and port, never its password), 1 for anything else
(among them a bot that stopped by itself because another process took its shards).
"""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from bot.app import StartupError, StoppedError, run
from bot.logging_setup import configure_logging
from bot.settings import Settings, describe_errors
from bot.storage.errors import DatabaseUnavailableError, SchemaTooNewError
from bot.telemetry.redaction import REDACT


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_errors(error), file=sys.stderr)  # noqa: T201 - before logging exists
        return 2
    REDACT.remember(*settings.secret_values())
    configure_logging(settings.log_level_number, settings.log_format)
    try:
        asyncio.run(run(settings))
    except StartupError as error:
        print(f"The bot cannot start: {error}", file=sys.stderr)  # noqa: T201
        return error.exit_code
    except StoppedError as error:
        print(f"The bot stopped: {error}", file=sys.stderr)  # noqa: T201
        return 1
    except (SchemaTooNewError, DatabaseUnavailableError) as error:
        print(f"The bot cannot start: {error}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
