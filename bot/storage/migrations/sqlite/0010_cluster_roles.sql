-- Schema 10: which role each process plays, where it runs, and which gateway shards it holds.
-- Needs nothing from schemas 8 and 9.

-- BOT_ROLE: all (the gateway, the tracker and the join pages) or web (join pages only).
ALTER TABLE processes ADD COLUMN role TEXT NOT NULL DEFAULT 'all' CHECK (role IN ('all', 'web'));
-- The kernel and PID namespace the process ran in (Linux: boot id and /proc/self/ns/pid).
-- A process in the same place whose pid no longer exists is dead at once, without waiting for
-- its heartbeat to go stale; NULL where that cannot be told.
ALTER TABLE processes ADD COLUMN place TEXT;

-- One row per shard a live process runs. A shard has at most one owner (the key); a claim
-- counts only while its process is live (fresh heartbeat, not stopped), and the next process
-- to claim removes the claims of dead ones. Every process of one bot shares `shard_count`.
CREATE TABLE shard_claims (
    shard_id    INTEGER NOT NULL PRIMARY KEY CHECK (shard_id >= 0),
    shard_count INTEGER NOT NULL CHECK (shard_count > shard_id),
    process_id  INTEGER NOT NULL REFERENCES processes (id),
    claimed_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX shard_claims_process ON shard_claims (process_id);
