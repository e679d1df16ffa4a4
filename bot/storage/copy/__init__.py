"""Moving a deployment from its SQLite file to PostgreSQL: `python -m bot.storage.copy`.

The copy reads the SQLite file in one read transaction (one moment of it) and writes an
empty, migrated PostgreSQL database in one transaction: tables in the order their foreign
keys need, rows streamed with COPY in batches (memory stays flat whatever the size), the
identity sequences moved past the copied ids, and the result checked (rows per table, each
server's calls, seconds, documents and avatars) before COMMIT. So a copy that fails, is
interrupted or is killed part way leaves the target exactly as empty as it was, and running
the command again is the whole recovery.

`tables.py` reads both schemas and orders the tables; `checks.py` holds the comparison;
`transfer.py` the copy itself; `__main__.py` the command.
"""

from bot.storage.copy.checks import Figures, MismatchError
from bot.storage.copy.tables import Table
from bot.storage.copy.transfer import CopyError, CopyFailedError, CopyReport, copy_database

__all__ = [
    "CopyError",
    "CopyFailedError",
    "CopyReport",
    "Figures",
    "MismatchError",
    "Table",
    "copy_database",
]
