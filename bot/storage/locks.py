"""Every advisory lock key the bot takes on PostgreSQL, in one place so no two collide.

Keys are 64-bit integers (`pg_advisory_xact_lock(bigint)`); on SQLite taking one is a no-op
because a write transaction already excludes every other writer. A feature that must
serialise writers across processes (admission, a lease) adds its key here and passes it to
`Database.write(body, lock=key)`, which takes it at the start of the batch's transaction.
"""

from __future__ import annotations

from enum import IntEnum


class LockKey(IntEnum):
    MIGRATIONS = 0x52_57_43_44_00_01  # "RWCD" + 1: migrating the schema
    SHARD_CLAIMS = 0x52_57_43_44_00_02  # "RWCD" + 2: claiming gateway shards at start-up
    ADMISSION = 0x52_57_43_44_00_03  # "RWCD" + 3: reserving a call slot (starts, the line)
